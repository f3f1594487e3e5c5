"""Highways and rights-of-way works co-ordination: clashes, Section 58 restrictions and
collaboration opportunities among partners' planned works (issue 16)."""
