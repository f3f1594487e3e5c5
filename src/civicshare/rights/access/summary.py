"""The readable summary in a subject access export: one self-contained HTML page for the person
(what each partner holds, every time it was shared, with whom, under which agreement and why)."""

from __future__ import annotations

from datetime import date

import jinja2
import pyarrow as pa
from sqlalchemy.orm import Session

from civicshare.config import Settings
from civicshare.rights.access.models import AccessRequest

HISTORY_COLUMNS = [
    "receipt",
    "at",
    "provider",
    "dataset",
    "snapshot_version",
    "recipient",
    "recipient_name",
    "received_by",
    "agreement",
    "agreement_version",
    "purpose",
    "columns",
    "rows",
    "your_records",
]

_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8">
<title>Your information held by {{ partnership }} ({{ request.reference }})</title>
<style>body{font-family:Arial,sans-serif;max-width:60em;margin:2em auto;line-height:1.4}
table{border-collapse:collapse;margin-bottom:1.5em}th,td{border:1px solid #b1b4b6;
padding:.3em .5em;text-align:left;vertical-align:top}caption{text-align:left;font-weight:bold}
</style></head><body>
<h1>Your information held by {{ partnership }}</h1>
<p>Request {{ request.reference }}, received {{ request.received_on.isoformat() }}, answered
{{ today.isoformat() }}. This pack has every record about you that the partners of
{{ partnership }} hold in the datasets they share through the gateway, and every time one
of those datasets was shared, with whom, under which agreement and for what purpose.</p>
<h2>What each organisation holds</h2>
{% for source, table in tables.items() %}
<table><caption>{{ partner_names.get(source.split('/')[0], source.split('/')[0]) }}:
{{ source.split('/')[1] }} ({{ table.num_rows }} record{{ '' if table.num_rows == 1 else 's' }}),
in records/{{ source.replace('/', '__') }}.csv</caption>
<thead><tr>{% for name in table.column_names %}<th scope="col">{{ name }}</th>{% endfor %}
</tr></thead><tbody>
{% for row in table.to_pylist() %}<tr>{% for name in table.column_names %}
<td>{{ '' if row[name] is none else row[name] }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table>
{% else %}<p>No partner holds a record that is surely about you.</p>{% endfor %}
<h2>When it was shared</h2>
{% if history %}
<table><caption>Each delivery of a dataset holding a record about you (sharing-history.csv)
</caption><thead><tr><th scope="col">When (UTC)</th><th scope="col">From</th>
<th scope="col">To</th><th scope="col">Agreement</th><th scope="col">Purpose</th>
<th scope="col">Items</th><th scope="col">Your records in it</th></tr></thead><tbody>
{% for h in history %}<tr><td>{{ h.at }}</td><td>{{ partner_names.get(h.provider, h.provider) }}
({{ h.dataset }})</td><td>{{ h.recipient_name }}</td><td>{{ h.agreement }} version
{{ h.agreement_version }}</td><td>{{ h.purpose }}</td><td>{{ h.columns }}</td>
<td>{{ h.your_records }}</td></tr>
{% endfor %}</tbody></table>
<p>A delivery shares the rows its agreement allows; a delivery is listed when at least one
of your records met the agreement's conditions on rows, and names those records.</p>
{% else %}<p>None of these datasets has been shared with another organisation.</p>{% endif %}
<h2>Your other rights</h2>
<p>You can ask for anything wrong to be corrected, or in some cases for it to be erased; the
partners who received it are told and asked to confirm. Contact the data protection officer of
the organisation concerned, or {{ partnership }}.</p>
</body></html>"""
)


def html(
    session: Session,
    settings: Settings,
    request: AccessRequest,
    tables: dict[str, pa.Table],
    history: list[dict],
) -> str:
    from civicshare.partners import service as partners

    names = {p.key: p.name for p in partners.list_partners(session)}
    return _TEMPLATE.render(
        partnership=settings.partnership_name,
        request=request,
        today=date.today(),
        tables=tables,
        history=history,
        partner_names=names,
    )
