"""Every setting, declared once with its default and help.

Read from environment variables prefixed ``POLICYAUDIT_`` (e.g. ``POLICYAUDIT_DATABASE_URL``),
overridden by CLI options. The README's settings table is generated from this class
(``policyaudit settings``)::

    Settings()                                     # defaults: ./audit-data, SQLite
    Settings(data_dir=Path("/srv/audit"))          # everything under /srv/audit
    Settings(database_url="postgresql+psycopg://127.0.0.1/audit")
    Settings(allow_private=True)                   # tests and local demos only
"""

from __future__ import annotations

from datetime import date
import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_URL = "https://github.com/policyaudit/policyaudit"
VERSION = "0.1.0"
DEFAULT_RUBRIC = Path(__file__).resolve().parent.parent / "rubrics" / "transparency.v2.yaml"
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLICYAUDIT_", frozen=True)

    data_dir: Path = Field(
        Path("audit-data"),
        description="Where the archive of fetched bodies, the SQLite database and reports go.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database; default sqlite:///<data_dir>/audit.db. "
        "Use postgresql+psycopg://... when several workers share a run.",
    )
    rubric: Path = Field(DEFAULT_RUBRIC, description="Rubric file used for grading.")
    models_dir: Path = Field(DEFAULT_MODELS_DIR, description="Directory of trained classifiers.")
    use_classifier: bool = Field(
        True, description="Use the trained segment classifiers as evidence when models are present."
    )
    user_agent: str = Field(
        f"policyaudit/{VERSION} (+{PROJECT_URL}; privacy-policy transparency audit)",
        description="User agent sent with every request; names the project and a contact URL.",
    )
    connect_timeout: float = Field(10.0, description="Seconds to establish a connection.")
    read_timeout: float = Field(20.0, description="Seconds to wait for each chunk of a response.")
    total_timeout: float = Field(60.0, description="Seconds for a whole fetch, redirects included.")
    max_bytes: int = Field(10_000_000, description="Largest body accepted; larger bodies are cut off and recorded as too_large.")
    max_redirects: int = Field(10, description="Redirects followed before giving up.")
    max_discovery_pages: int = Field(
        8, description="Pages visited from a homepage while looking for the policy link."
    )
    concurrency: int = Field(
        64, description="Requests in flight at once, all hosts together (politeness is per host: see below)."
    )
    per_host_concurrency: int = Field(2, description="Requests in flight at once to one host.")
    per_host_delay: float = Field(0.25, description="Seconds between requests to the same host.")
    obey_robots: bool = Field(True, description="Obey robots.txt (always on outside tests).")
    allow_private: bool = Field(
        False,
        description="Allow private, loopback and link-local addresses (local tests and demos only).",
    )
    http_retries: int = Field(
        2, description="Retries of one request after HTTP 429/5xx or a dropped connection, with exponential backoff."
    )
    retry_backoff: float = Field(1.0, description="Seconds before the first retry; doubled for each further one.")
    max_retry_after: float = Field(
        60.0, description="Longest Retry-After honoured; a server asking for longer is recorded as rate_limited."
    )
    max_discovery_depth: int = Field(5, description="Clicks followed from a homepage while looking for the policy.")
    max_policy_clicks: int = Field(
        4, description="A policy found more clicks than this from the homepage gets a warning (2019 认定方法: not public)."
    )
    render_javascript: bool = Field(
        False, description="Render pages that need JavaScript with the system Chromium (off by default)."
    )
    chromium_path: str = Field("/usr/bin/chromium", description="Chromium binary used when render_javascript is on.")
    as_of: date | None = Field(
        None, description="Audit the Internet Archive copy closest to this date (YYYY-MM-DD) instead of the live web."
    )
    as_of_window_days: int = Field(
        366, description="With as_of: a capture further than this many days from the date counts as no archived copy."
    )
    wayback_url: str = Field(
        "https://web.archive.org", description="Internet Archive base URL (CDX API at /cdx/search/cdx, replay at /web/)."
    )
    target_fetch_budget: float = Field(
        300.0,
        description="Seconds of wall-clock for one target's fetch and discovery (waiting for a host's turn not "
        "counted); past it the target is not assessed with 'budget exceeded: fetch'.",
    )
    target_read_budget: float = Field(
        120.0,
        description="Seconds to read, segment and grade one policy; a grading worker past it is killed and "
        "replaced, and the target is not assessed with 'budget exceeded: read+grade'.",
    )
    target_max_bytes: int = Field(
        40_000_000,
        description="Bytes received for one target over all its pages (discovery included); past it the "
        "target is not assessed with 'budget exceeded: bytes'.",
    )
    fetch_retries: int = Field(2, description="Retries of a failed fetch batch task in the flow.")
    batch_size: int = Field(50, description="Targets per fetch/grade task in the flow.")
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        description="Processes that read, segment, classify and grade in parallel (1 = in the main process).",
    )

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'audit.db').resolve()}"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"
