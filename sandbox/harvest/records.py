"""The agency's dimensions in Harvest API v2 shapes: users, roles, clients, contacts, projects, tasks...

Same people, clients, projects and services as the other sandboxes (same ids and names); what Harvest
has and the others lack (contacts, assignments, rates, business roles, item categories, the company)
is derived deterministically from the seed. Field order follows the reference's field lists.
Records may carry private fields (`_parent_id`...), which the app strips before sending.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sandbox.org import Org, Person, Project, mix
from sandbox.orgdata import FIRST, LAST

Record = dict[str, Any]
ROLE_BASE, EXPENSE_CATEGORY_BASE, INVOICE_ITEM_CATEGORY_BASE, ESTIMATE_ITEM_CATEGORY_BASE = 200, 600, 650, 660
CONTACT_BASE, TASK_ASSIGNMENT_BASE, USER_ASSIGNMENT_BASE = 100_000, 200_000, 300_000
BILLABLE_RATE_BASE, COST_RATE_BASE = 400_000, 450_000
CURRENCY = "EUR"
# Business roles by team ("roles" on users: descriptive, no effect on permissions).
TEAM_ROLES = {
    "Design": "Designer", "Development": "Developer", "Strategy & Accounts": "Account Manager",
    "Content": "Copywriter", "Data": "Data Analyst", "Motion": "Motion Designer",
}  # fmt: skip
MANAGER_ACCESS = [
    "manager", "project_creator", "billable_rates_manager", "managed_projects_invoice_drafter",
    "time_and_expenses_manager",
]  # fmt: skip
STREETS = ("Hauptstraße", "Hafenweg", "Lindenallee", "Marktplatz", "Kastanienweg", "Bahnhofstraße")
CITIES = ("10115 Berlin", "20095 Hamburg", "80331 München", "50667 Köln", "04109 Leipzig", "28195 Bremen")


def at(d: date, hour: int = 9) -> str:
    return f"{d.isoformat()}T{hour:02d}:00:00Z"


def ref(row: Record, *keys: str) -> Record:
    """A nested reference object (`{id, name}`, `{id, name, code}`...) from a full record."""
    return {k: row.get(k) for k in keys}


def leaders(org: Org) -> set[int]:
    return {t.leader_id for t in org.teams if t.leader_id is not None}


def rates(p: Person) -> tuple[float, float]:
    """(default hourly rate, cost rate) of a person."""
    return 90.0 + 5 * (mix(p.id) % 7), 40.0 + 5 * (mix(p.id * 31) % 6)


def business_roles(org: Org, index: int, p: Person) -> list[str]:
    """Some people have several roles, some one, some none (a report maps "single role or Unknown")."""
    if index == 0:
        return ["Founder", "CEO"]
    if index % 4 == 3:
        return []
    team = next((t.name for t in org.teams if t.id == p.team_id), "")
    role = TEAM_ROLES.get(team.rsplit(" ", 1)[0] if team[-1:].isdigit() else team, "Consultant")
    return [role, "Team Lead"] if p.id in leaders(org) else [role]


def access_roles(org: Org, index: int, p: Person) -> list[str]:
    if index == 0:
        return ["administrator"]
    return list(MANAGER_ACCESS) if p.id in leaders(org) else ["member"]


def capacity(p: Person) -> int:
    """Weekly capacity in seconds (hours of the latest schedule)."""
    return int(sum(p.schedules[-1].hours) * 3600) if p.schedules else 0


def users(org: Org) -> list[Record]:
    out = []
    for i, p in enumerate(org.people):
        first, _, last = p.name.partition(" ")
        default_rate, cost_rate = rates(p)
        updated = p.exit_date or min(
            org.anchor - timedelta(days=1), p.created_at + timedelta(days=mix(p.id) % 300)
        )
        out.append({
            "id": p.id, "first_name": first, "last_name": last, "email": p.email,
            "telephone": "" if i % 3 == 2 else f"+49 30 5550 {p.id % 10_000:04d}", "timezone": p.timezone,
            "has_access_to_all_future_projects": i == 0, "is_contractor": i % 6 == 5, "is_active": p.active,
            "weekly_capacity": capacity(p), "default_hourly_rate": default_rate, "cost_rate": cost_rate,
            "roles": business_roles(org, i, p), "access_roles": access_roles(org, i, p),
            "avatar_url": f"https://avatars.{org.options.domain}/{p.id}.png",
            "created_at": at(p.created_at, 8), "updated_at": at(max(updated, p.created_at), 10),
        })  # fmt: skip
    return out


def roles(org: Org) -> list[Record]:
    """One role per business role name, in order of first appearance; `user_ids` from the users."""
    names: dict[str, list[Person]] = {}
    for i, p in enumerate(org.people):
        for name in business_roles(org, i, p):
            names.setdefault(name, []).append(p)
    return [
        {
            "id": ROLE_BASE + 1 + k,
            "name": name,
            "user_ids": [p.id for p in members],
            "created_at": at(org.founded + timedelta(days=k), 9),
            "updated_at": at(max(p.created_at for p in members), 9),
        }
        for k, (name, members) in enumerate(names.items())
    ]


def _client_created(org: Org, client_id: int) -> date:
    starts = [p.start_date for p in org.projects if p.client_id == client_id]
    return org.founded if client_id == org.clients[0].id or not starts else min(starts) - timedelta(days=30)


def clients(org: Org) -> list[Record]:
    out = []
    for c in org.clients:
        created = _client_created(org, c.id)
        done = [p.completed_at for p in org.projects if p.client_id == c.id and p.completed_at]
        updated = max(done) if not c.active and done else created + timedelta(days=1 + mix(c.id) % 90)
        h = mix(c.id * 7)
        address = None if c.internal else f"{STREETS[h % 6]} {1 + h % 90}\n{CITIES[(h >> 8) % 6]}"
        out.append({
            "id": c.id, "name": c.name, "is_active": c.active, "address": address,
            "statement_key": f"{mix(c.id * 13):016x}{mix(c.id * 17):016x}", "currency": CURRENCY,
            "created_at": at(created), "updated_at": at(max(created, min(updated, org.anchor - timedelta(days=1))), 11),
        })  # fmt: skip
    return out


def contacts(org: Org) -> list[Record]:
    out: list[Record] = []
    titles = ("Marketing Lead", "CEO", None, "Head of Digital", "Office Manager")
    for c in org.clients:
        if c.internal:
            continue
        created = _client_created(org, c.id) + timedelta(days=1)
        slug = "".join(ch for ch in c.name.lower().split(" ")[0] if ch.isalnum())
        for k in range(1 + mix(c.id) % 2):
            h = mix(c.id * 101 + k)
            first, last = FIRST[h % len(FIRST)], LAST[(h >> 16) % len(LAST)]
            out.append({
                "id": CONTACT_BASE + len(out) + 1, "title": titles[(h >> 32) % len(titles)],
                "first_name": first, "last_name": last, "email": f"{first.lower()}.{last.lower()}@{slug}.example",
                "phone_office": f"+49 40 555 {h % 10_000:04d}", "phone_mobile": "" if k else f"+49 170 555 {h % 9973:04d}",
                "fax": "", "created_at": at(created + timedelta(days=k)), "updated_at": at(created + timedelta(days=k), 15),
                "client": {"id": c.id, "name": c.name},
            })  # fmt: skip
    return out


def project_active(org: Org, p: Project) -> bool:
    return org.client_by_id[p.client_id].active and (p.completed_at is None or p.completed_at >= org.anchor)


def projects(org: Org) -> list[Record]:
    out = []
    for p in org.projects:
        client = org.client_by_id[p.client_id]
        created = p.start_date - timedelta(days=7)
        done = p.completed_at is not None and p.completed_at < org.anchor
        budget = p.budget_hours if p.budget_hours is not None else p.budget_money
        ends = p.completed_at or p.deadline
        budget_by = "project" if p.budget_hours is not None else "project_cost" if p.budget_money else "none"
        out.append({
            "id": p.id, "name": p.name, "code": p.number, "is_active": project_active(org, p),
            "is_billable": p.billable, "is_fixed_fee": p.budget_money is not None,
            "bill_by": "Project" if p.billable else "none", "hourly_rate": p.hourly_rate if p.billable else None,
            "budget": budget, "budget_by": budget_by, "budget_is_monthly": False,
            "notify_when_over_budget": budget is not None, "over_budget_notification_percentage": 80.0,
            "over_budget_notification_date": None, "show_budget_to_all": False, "cost_budget": None,
            "cost_budget_include_expenses": False, "fee": p.budget_money, "notes": p.note or "",
            "starts_on": p.start_date.isoformat(),
            "ends_on": ends.isoformat() if ends else None,
            "created_at": at(created), "updated_at": at(p.completed_at if done and p.completed_at else created, 16),
            "client": {"id": client.id, "name": client.name, "currency": CURRENCY},
        })  # fmt: skip
    return out


def tasks(org: Org) -> list[Record]:
    return [
        {
            "id": s.id,
            "name": s.name,
            "billable_by_default": s.billable,
            "default_hourly_rate": s.hourly_rate if s.billable else None,
            "is_default": s.name in ("Project management", "Administration"),
            "is_active": s.active,
            "created_at": at(org.founded + timedelta(days=i)),
            "updated_at": at(org.founded + timedelta(days=i + 30)),
        }
        for i, s in enumerate(org.services)
    ]


def task_assignments(org: Org) -> list[Record]:
    out: list[Record] = []
    for p in org.projects:
        created = at(p.start_date - timedelta(days=7), 10)
        for sid in p.service_ids:
            s = org.service_by_id[sid]
            billable = p.billable and s.billable
            out.append({
                "id": TASK_ASSIGNMENT_BASE + len(out) + 1, "billable": billable, "is_active": s.active,
                "created_at": created, "updated_at": created, "hourly_rate": p.hourly_rate if billable else None,
                "budget": None, "project": {"id": p.id, "name": p.name, "code": p.number},
                "task": {"id": s.id, "name": s.name},
            })  # fmt: skip
    return out


def user_assignments(org: Org) -> list[Record]:
    out: list[Record] = []
    managers = leaders(org) | {org.people[0].id}
    for person in org.people:
        for pid in person.portfolio:
            p = org.project_by_id[pid]
            created = at(max(p.start_date - timedelta(days=7), person.created_at), 10)
            out.append({
                "id": USER_ASSIGNMENT_BASE + len(out) + 1, "is_project_manager": person.id in managers,
                "is_active": person.active and project_active(org, p), "use_default_rates": True,
                "budget": None, "created_at": created, "updated_at": created, "hourly_rate": rates(person)[0],
                "project": {"id": p.id, "name": p.name, "code": p.number},
                "user": {"id": person.id, "name": person.name},
            })  # fmt: skip
    return out


def _rate_rows(org: Org, base: int, cost: bool) -> list[Record]:
    out: list[Record] = []
    for p in org.people:
        amount = rates(p)[1 if cost else 0]
        raise_on = org.anchor - timedelta(days=200 + mix(p.id * 3) % 150)
        periods: list[tuple[float, date, date | None]] = [(amount, p.start_date, None)]
        if not cost and p.start_date < raise_on - timedelta(days=180):  # one raise for long-time staff
            periods = [(amount - 10.0, p.start_date, raise_on - timedelta(days=1)), (amount, raise_on, None)]
        for value, start, end in periods:
            out.append({
                "id": base + len(out) + 1, "amount": value, "start_date": start.isoformat(),
                "end_date": end.isoformat() if end else None, "created_at": at(start, 8),
                "updated_at": at(end + timedelta(days=1) if end else start, 8), "_parent_id": p.id,
            })  # fmt: skip
    return out


def billable_rates(org: Org) -> list[Record]:
    return _rate_rows(org, BILLABLE_RATE_BASE, cost=False)


def cost_rates(org: Org) -> list[Record]:
    return _rate_rows(org, COST_RATE_BASE, cost=True)


def expense_categories(org: Org) -> list[Record]:
    """The lump-sum services (unit priced) plus "Other" for plain amounts."""
    created = at(org.founded + timedelta(days=10))
    rows = [
        {
            "id": EXPENSE_CATEGORY_BASE + 1 + i,
            "name": s.name,
            "unit_name": s.unit,
            "unit_price": s.price,
            "is_active": s.active,
            "created_at": created,
            "updated_at": created,
            "_lumpsum_id": s.id,
        }
        for i, s in enumerate(org.lumpsum_services)
    ]
    other = EXPENSE_CATEGORY_BASE + 1 + len(rows)
    rows.append({"id": other, "name": "Other", "unit_name": None, "unit_price": None, "is_active": True,
                 "created_at": created, "updated_at": created})  # fmt: skip
    return rows


def invoice_item_categories(org: Org) -> list[Record]:
    created = at(org.founded)
    return [
        {"id": INVOICE_ITEM_CATEGORY_BASE + 1, "name": "Service", "use_as_service": True, "use_as_expense": False,
         "created_at": created, "updated_at": created},
        {"id": INVOICE_ITEM_CATEGORY_BASE + 2, "name": "Product", "use_as_service": False, "use_as_expense": True,
         "created_at": created, "updated_at": created},
    ]  # fmt: skip


def estimate_item_categories(org: Org) -> list[Record]:
    created = at(org.founded)
    return [
        {
            "id": ESTIMATE_ITEM_CATEGORY_BASE + 1,
            "name": "Service",
            "created_at": created,
            "updated_at": created,
        },
        {
            "id": ESTIMATE_ITEM_CATEGORY_BASE + 2,
            "name": "Product",
            "created_at": created,
            "updated_at": created,
        },
    ]


def company(org: Org, account_id: int) -> list[Record]:
    """The single company record; `id` is the account id (admin edits address it, the API omits it)."""
    slug = org.options.domain.split(".")[0]
    return [{
        "id": account_id, "base_uri": f"https://{slug}.harvestapp.com", "full_domain": f"{slug}.harvestapp.com",
        "name": "Couplet Agency", "is_active": True, "week_start_day": "Monday", "wants_timestamp_timers": True,
        "time_format": "hours_minutes", "date_format": "%d.%m.%Y", "plan_type": "simple-v4", "clock": "24h",
        "currency": CURRENCY, "currency_code_display": "iso_code_none", "currency_symbol_display": "symbol_after_amount",
        "decimal_symbol": ",", "thousands_separator": ".", "color_scheme": "orange", "weekly_capacity": 144_000,
        "expense_feature": True, "invoice_feature": True, "estimate_feature": True, "approval_feature": True,
        "team_feature": True,
    }]  # fmt: skip
