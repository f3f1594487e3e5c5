"""Settings: environment variables (CIVICSHARE_*), then an optional TOML file, then defaults."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

ENV_PREFIX = "CIVICSHARE_"
CONFIG_FILE_ENV = "CIVICSHARE_CONFIG"
DEFAULT_CONFIG_FILE = Path("civicshare.toml")


def config_file() -> Path | None:
    """The TOML file in force: $CIVICSHARE_CONFIG, else ./civicshare.toml when it exists."""
    named = os.environ.get(CONFIG_FILE_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(f"{CONFIG_FILE_ENV} names {path}, which is not a file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    data_dir: Path = Field(
        default=Path("var"), description="Where the embedded store, snapshots and keys live."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the governance store; default a SQLite file in data_dir. "
        "For production: postgresql+psycopg://user:password@host:5432/civicshare",
    )
    database_pool_size: int = Field(
        default=5,
        ge=1,
        description="PostgreSQL: connections each process keeps open to the governance store.",
    )
    database_max_overflow: int = Field(
        default=10,
        ge=0,
        description="PostgreSQL: connections a process may open beyond the pool under load.",
    )
    database_pool_timeout: float = Field(
        default=30,
        gt=0,
        description="PostgreSQL: seconds a request waits for a free connection before failing.",
    )
    keys_dir: Path | None = Field(
        default=None, description="Where gateway keys live; default data_dir/keys."
    )
    snapshot_store: str = Field(
        default="",
        description="Where dataset snapshots live: empty (the default) for data_dir/snapshots, "
        "or s3://bucket/prefix for S3-compatible object storage (staging stays in data_dir).",
    )
    s3_endpoint_url: str = Field(
        default="",
        description="Object storage endpoint for snapshot_store, e.g. https://minio.internal:9000;"
        " empty: AWS S3.",
    )
    s3_region: str = Field(default="", description="Region of the snapshot_store bucket.")
    s3_access_key_id: str = Field(
        default="",
        description="Access key for snapshot_store; empty: the AWS credential chain (AWS_* "
        "environment variables, instance role).",
    )
    s3_secret_access_key: SecretStr = Field(
        default=SecretStr(""), description="Secret for s3_access_key_id (masked when shown)."
    )
    host: str = Field(default="127.0.0.1", description="Address `civicshare serve` listens on.")
    port: int = Field(default=8000, description="Port `civicshare serve` listens on.")
    partnership_name: str = Field(
        default="Worcestershire Office of Data Analytics",
        description="The partnership's name, shown on every page.",
    )
    host_partner: str = Field(
        default="worcestershire-cc",
        description="Key of the partner that runs the gateway; its admins manage the "
        "partnership itself (partners joining and leaving, the charter).",
    )
    separation_of_duties: Literal["four-eyes", "relaxed"] = Field(
        default="four-eyes",
        description="How far the agreement lifecycle keeps duties apart. four-eyes (the "
        "default): the IG group's endorsement of a version is recorded by a member of the IG "
        "group (an IG lead) who neither drafted, submitted nor approved that version. relaxed, "
        "for a partnership too small for that: anyone of the IG group may record it. Either "
        "way a party approves only for its own organisation and a version is activated only "
        "with every party's approval and the endorsement.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="How `civicshare serve` writes its logs: text, or one JSON object a line "
        "(with the gateway's own access log: declared routes, no paths, queries or addresses).",
    )
    background_jobs: bool = Field(
        default=True,
        description="Run the schedules (retention, audit checkpoints, life-event deliveries) "
        "inside `civicshare serve`. Set false on API workers when one `civicshare scheduler` "
        "process runs them.",
    )
    retention_interval_minutes: int = Field(
        default=60,
        ge=0,
        description="While the server runs, purge data past its retention period (and expire "
        "agreements) every this many minutes; 0 turns the schedule off.",
    )
    audit_checkpoint_every: int = Field(
        default=1000,
        ge=0,
        description="Sign an audit checkpoint automatically whenever the log's length reaches a "
        "multiple of this many records; 0 turns it off.",
    )
    audit_checkpoint_minutes: float = Field(
        default=5,
        ge=0,
        description="While the server runs, sign an audit checkpoint when records were written "
        "since the last one and it is this many minutes old; 0 turns the schedule off. The "
        "server also signs one as it shuts down.",
    )
    map_tiles: str = Field(
        default="",
        description="URL template of the maps' base-map tiles, e.g. "
        "https://tiles.example.org/{z}/{x}/{y}.png; the map pages then allow images from that "
        "origin in their Content-Security-Policy. Empty (the default): no base map, only the "
        "partnership's own district boundaries and streets.",
    )
    map_attribution: str = Field(
        default="", description="Attribution shown on the maps for map_tiles."
    )
    smtp_host: str = Field(
        default="",
        description="SMTP server that notifications are e-mailed through; empty (the default): "
        "no e-mail, notifications are in-app only.",
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of smtp_host.")
    smtp_from: str = Field(
        default="civicshare@localhost", description="The From address of notification e-mails."
    )
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    smtp_username: str = Field(
        default="", description="User name to log in to smtp_host with; empty: no login."
    )
    smtp_password: SecretStr = Field(
        default=SecretStr(""), description="Password for smtp_username (masked when shown)."
    )
    smtp_timeout_seconds: float = Field(
        default=10, gt=0, description="Give up on the SMTP server after this many seconds."
    )
    works_tolerance_m: float = Field(
        default=25.0,
        ge=0,
        description="Works whose locations come within this many metres on overlapping days clash.",
    )
    works_public_partner: str = Field(
        default="worcestershire-cc",
        description="The street authority whose agreements the public roadworks map reads under.",
    )
    events_match_probability: float = Field(
        default=0.99,
        ge=0.5,
        le=1,
        description="A life event is sent only when the person index linked its record at this "
        "match probability or above (or a reviewer accepted the pair) and no review is open.",
    )
    events_max_attempts: int = Field(
        default=8, ge=1, description="Delivery attempts before a notification is dead-lettered."
    )
    events_retry_base_seconds: float = Field(
        default=2,
        gt=0,
        description="Back-off before the second attempt; doubles with each attempt (full jitter).",
    )
    events_retry_max_seconds: float = Field(
        default=3600, gt=0, description="The longest back-off between two delivery attempts."
    )
    events_timeout_seconds: float = Field(
        default=10, gt=0, description="Give up on a webhook that has not answered in this long."
    )
    events_replay_window_seconds: int = Field(
        default=300,
        ge=1,
        description="A signed registration posted to the gateway is refused when its time is "
        "further than this from the gateway's clock (and when its id was seen before).",
    )
    events_key_overlap_hours: float = Field(
        default=24,
        ge=0,
        description="After a key rotation the previous key keeps signing for this long.",
    )
    events_deliver_seconds: float = Field(
        default=0,
        ge=0,
        description="While the server runs, deliver due life-event notifications every this "
        "many seconds on a background thread; 0 (the default) leaves it to "
        "`civicshare events deliver --loop`.",
    )
    linkage_backend: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="Where the person index runs Splink: `duckdb` in the gateway's process, or "
        "`spark` (pyspark, the `spark` extra) on the cluster at `spark_master`.",
    )
    spark_master: str = Field(
        default="local[2]",
        description="The Spark master the person index uses when `linkage_backend` is `spark`: "
        "`local[N]`, `spark://host:7077`, `yarn` or `k8s://...`.",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Further Spark settings as a JSON object (executor memory and cores, "
        "shuffle partitions, the checkpoint directory), passed to the session as they are.",
    )
    reminders_interval_minutes: float = Field(
        default=1440,
        ge=0,
        description="Send the reminders due (enquiries due soon or overdue, corrections not "
        "confirmed) this often; each is sent once. 0 turns the schedule off.",
    )
    index_run_minutes: float = Field(
        default=0,
        ge=0,
        description="Run the person index this often when a snapshot is new (one run at a time "
        "across processes); 0 (the default) leaves it to `civicshare index run`.",
    )
    demo_people: int = Field(default=5000, description="Residents in the demo's synthetic county.")
    demo_seed: int = Field(default=1, description="Seed of the demo's synthetic county.")

    @field_validator("snapshot_store")
    @classmethod
    def _an_s3_url(cls, value: str) -> str:
        value = value.strip()
        if value and not (value.startswith("s3://") and value[5:].strip("/")):
            raise ValueError(
                f"snapshot_store is empty (the data directory) or s3://bucket/prefix, not {value!r}"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'civicshare.db').resolve()}"

    @property
    def effective_keys_dir(self) -> Path:
        return self.keys_dir if self.keys_dir is not None else self.data_dir / "keys"

    @property
    def database_backend(self) -> str:
        return make_url(self.effective_database_url).get_backend_name()

    def ensure_dirs(self) -> None:
        """The data and keys directories, 0700; the embedded store's files and the key,
        snapshot and staging files already there are set to 0600 (docs/running.md)."""
        from civicshare.private import FILE_MODE, private_dir, set_mode, tighten_tree

        private_dir(self.data_dir)
        tighten_tree(private_dir(self.effective_keys_dir))
        snapshots = self.data_dir / "snapshots"
        if snapshots.is_dir():
            tighten_tree(snapshots)
        if not self.database_url:
            for suffix in ("", "-wal", "-shm", "-journal"):
                set_mode(self.data_dir / f"civicshare.db{suffix}", FILE_MODE)

    def described(self) -> list[tuple[str, str, str]]:
        """(name, value with secrets masked, where it came from) for `civicshare config show`."""
        path = config_file()
        from_file: dict[str, Any] = {}
        if path is not None:
            import tomllib

            from_file = tomllib.loads(path.read_text())
        rows = []
        for name in type(self).model_fields:
            if f"{ENV_PREFIX}{name.upper()}" in os.environ:
                source = "environment"
            elif name in from_file:
                source = f"config file {path}"
            else:
                source = "default"
            rows.append((name, self._shown(name), source))
        return rows

    def _shown(self, name: str) -> str:
        value = getattr(self, name)
        if name == "database_url":
            shown = make_url(self.effective_database_url).render_as_string(hide_password=True)
            return shown if value else f"{shown} (from data_dir)"
        if name == "keys_dir":
            return str(self.effective_keys_dir) + ("" if value else " (from data_dir)")
        if isinstance(value, SecretStr):
            return "********"
        if value is None:
            return "(unset)"
        return str(value)


def get_settings() -> Settings:
    return Settings()
