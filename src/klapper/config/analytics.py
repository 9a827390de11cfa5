"""klapper.yaml's ``analytics:``: the website's own analytics (Matomo or Plausible) to read
visits and goal conversions from, per campaign, source and day.

The token is a secret, never in klapper.yaml: the secrets entry ``analytics`` with the key
``token`` (``KLAPPER_ANALYTICS_TOKEN``, the secrets file, or a systemd credential).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

#: the secrets entry (an "account" name in the secrets sources) holding the analytics token
SECRETS_ENTRY = "analytics"
TOKEN_KEY = "token"

_URL = r"^https?://[^\s/?#]+[^\s?#]*$"


def _address(value: str) -> str:
    if not re.fullmatch(_URL, value):
        raise ValueError(
            f"{value!r} is not a web address; write it whole, e.g. https://stats.shop.de/"
        )
    return value


Address = Annotated[str, AfterValidator(_address), Field(json_schema_extra={"pattern": _URL})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatomoSite(_Strict):
    """A Matomo installation and the site's id in it."""

    url: Address = Field(description="Where Matomo is installed, e.g. https://stats.shop.de/.")
    site_id: int = Field(ge=1, description="The site's id in Matomo (idSite).")
    by_source: bool = Field(
        True,
        description="Split visits by utm_source (needs Matomo's Marketing Campaigns "
        "Reporting, part of Matomo Cloud); false: per campaign only.",
    )


class PlausibleSite(_Strict):
    """A Plausible server (plausible.io or your own) and the site's domain in it."""

    url: Address = Field("https://plausible.io", description="The Plausible server.")
    site_id: str = Field(
        min_length=1, description="The site's domain as Plausible knows it, e.g. shop.de."
    )


class Analytics(_Strict):
    """Visits and goals from the website's analytics, read on the reactions' schedule."""

    matomo: MatomoSite | None = Field(None, description="Read from Matomo's Reporting API.")
    plausible: PlausibleSite | None = Field(None, description="Read from Plausible's Stats API.")
    budget: int = Field(
        10, ge=1, description="Requests to the analytics per polling round, at most."
    )
    timeout: float = Field(
        30.0, gt=0, le=300, description="Seconds to wait for one answer of the analytics."
    )

    @model_validator(mode="after")
    def _one_tool(self) -> Analytics:
        if (self.matomo is None) == (self.plausible is None):
            raise ValueError(
                "give one of matomo: {url, site_id} or plausible: {url, site_id}"
                + (", not both" if self.matomo else "")
            )
        return self

    @property
    def tool(self) -> str:
        return "matomo" if self.matomo is not None else "plausible"
