"""What every domain needs and no domain owns: who is acting (`Actor`, `Role`) and the one
error type a domain raises (`DomainError`). Imports no domain: domains import it."""
