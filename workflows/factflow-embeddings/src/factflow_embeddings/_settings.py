"""Settings of the embeddings workflow, read from `FACTFLOW_EMBEDDINGS_*` environment variables."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ("EmbeddingsSettings",)


class EmbeddingsSettings(BaseSettings):
    """Process-wide defaults that must not live in pipeline YAML (keys, database URLs).

    Read when an adapter starts, so a server picks up the environment it was started with.
    """

    model_config = SettingsConfigDict(
        env_prefix="FACTFLOW_EMBEDDINGS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    openai_api_key: SecretStr | None = None
    """Key for the `openai` provider when its config names no `api_key_env`."""
    openai_base_url: str | None = None
    """Base URL for the `openai` provider when its config gives none (default `https://api.openai.com/v1`)."""
    pgvector_url: SecretStr | None = None
    """PostgreSQL URL for `vector_writer` with `store: pgvector` when its config names no `database_url_env`."""

    def __repr__(self) -> str:
        # SecretStr already masks values; keep the repr short and obviously free of secrets.
        return "EmbeddingsSettings(...)"
