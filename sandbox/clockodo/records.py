"""The agency's dimensions in Clockodo's wire shapes (UserV3, CustomerV3, ProjectV4, AbsenceV4...).

Each builder returns every record with full (owner) rights; `RESTRICTED` lists the fields the
reference calls permission-dependent, which the app drops for the worker key. Field order follows the
reference so a diff against it reads easily.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sandbox.org import Org, Person, mix

Record = dict[str, Any]
ABSENCE_TYPES = {
    "vacation": 1, "special_leave": 2, "overtime_reduction": 3, "sick": 4, "sick_child": 5,
    "education": 6, "maternity_protection": 7, "home_office": 8, "out_of_office": 9,
}  # fmt: skip
ABSENCE_STATUS = {"requested": 0, "approved": 1, "declined": 2}
NONBUSINESS_GROUP = 1
SURCHARGE_STANDARD = 1
# Fields that need rights the worker key does not have ("only with access rights..." in the reference).
RESTRICTED = {
    "entries": ("hourly_rate", "revenue"),
    "projects": ("note", "billed_money", "billed_completely", "revenue_factor", "bill_service_id"),
    "customers": ("note", "bill_service_id"),
    "services": ("note", "bill_service_id"),
    "lumpsum_services": ("note",),
    "users": ("wage_type", "support_pin", "bill_service_id", "edit_lock", "edit_lock_dyn", "edit_lock_sync",
              "work_time_edit_lock_days"),
}  # fmt: skip


def day_text(d: date | None) -> str | None:
    return d.isoformat() if d else None


def at(d: date, hour: int) -> str:
    return f"{d.isoformat()}T{hour:02d}:00:00Z"


def users(org: Org) -> list[Record]:
    leaders: dict[int | None, int | None] = {t.id: t.leader_id for t in org.teams}
    owner = org.people[0].id
    out = []
    for p in org.people:
        boss = (
            None
            if p.role == "owner"
            else (leaders.get(p.team_id) if leaders.get(p.team_id) != p.id else owner)
        )
        manager = p.role == "owner"
        out.append({
            "id": p.id, "name": p.name, "number": p.number, "email": p.email, "role": p.role,
            "active": p.active, "timeformat_12h": False, "weekstart_monday": True, "weekend_friday": False,
            "language": p.language, "timezone": p.timezone, "teams_id": p.team_id, "initials": p.initials,
            "nonbusiness_groups_id": NONBUSINESS_GROUP, "nonbusinessgroups_id": NONBUSINESS_GROUP,
            "work_time_regulations_id": None, "default_work_time_regulation": True,
            "worktime_regulation_id": None, "boss": boss, "absence_managers_id": [boss or owner],
            "access_groups_ids": [], "can_generally_see_absences": manager,
            "can_generally_manage_absences": manager, "can_add_customers": manager,
            "default_holidays_count": p.vacation_days == 28, "default_target_hours": False,
            "future_coworker": p.start_date > org.anchor, "start_date": day_text(p.start_date),
            "exit_date": day_text(p.exit_date), "wage_type": 1, "edit_lock": None, "edit_lock_dyn": None,
            "edit_lock_sync": None, "work_time_edit_lock_days": None, "budget_notifications": manager,
            "creator": None if p.id == owner else owner, "created_at": at(p.created_at, 8),
            "bill_service_id": None, "support_pin": f"{mix(p.id) % 1_000_000:06d}",
            "exempt_from_flextime": False,
        })  # fmt: skip
    return out


def teams(org: Org) -> list[Record]:
    return [
        {"id": t.id, "name": t.name, "leader": t.leader_id, "user_ids": list(t.member_ids)} for t in org.teams
    ]


def customers(org: Org) -> list[Record]:
    assigned: dict[int, set[int]] = {}
    for p in org.projects:
        assigned.setdefault(p.client_id, set()).update(p.service_ids)
    return [
        {
            "id": c.id,
            "name": c.name,
            "number": c.number,
            "color": c.color,
            "active": c.active,
            "billable_default": not c.internal,
            "note": c.note,
            "bill_service_id": None,
            "test_data": False,
            "service_assignments": sorted(assigned.get(c.id, ())),
        }
        for c in org.clients
    ]


def projects(org: Org) -> list[Record]:
    out = []
    for p in org.projects:
        done = p.completed_at is not None and p.completed_at < org.anchor
        budget = None
        if p.budget_hours or p.budget_money:
            budget = {
                "monetary": p.budget_money is not None, "hard": p.budget_money is not None,
                "from_subprojects": False, "interval": None,
                "amount": p.budget_money if p.budget_money is not None else p.budget_hours,
                "subprojects_budget_total": 0, "notification_thresholds": [80, 100],
            }  # fmt: skip
        out.append({
            "id": p.id, "customers_id": p.client_id, "name": p.name, "number": p.number,
            "active": org.client_by_id[p.client_id].active, "billable_default": p.billable, "note": p.note,
            "billed_money": (p.budget_money or 0.0) if done and p.billable else None,
            "billed_completely": done and p.billable, "completed": done,
            "completed_at": at(p.completed_at, 16) if done and p.completed_at else None,
            "revenue_factor": 1.0 if done and p.budget_money else None, "deadline": day_text(p.deadline),
            "start_date": day_text(p.start_date), "automatic_completion": False, "test_data": False,
            "count_subprojects": 0, "budget": budget, "bill_service_id": None,
            "service_assignments": list(p.service_ids),
        })  # fmt: skip
    return out


def services(org: Org) -> list[Record]:
    return [
        {
            "id": s.id,
            "name": s.name,
            "number": s.number,
            "active": s.active,
            "note": s.note,
            "bill_service_id": None,
        }
        for s in org.services
    ]


def lumpsum_services(org: Org) -> list[Record]:
    return [
        {
            "id": s.id,
            "name": s.name,
            "price": s.price,
            "unit": s.unit,
            "active": s.active,
            "number": s.number,
            "note": None,
        }
        for s in org.lumpsum_services
    ]


def absences(org: Org) -> list[Record]:
    out = []
    for a in org.absences:
        kind = ABSENCE_TYPES[a.kind]
        row: Record = {
            "id": a.id, "users_id": a.user_id, "date_since": day_text(a.start), "date_until": day_text(a.end),
            "status": ABSENCE_STATUS[a.status], "type": kind, "note": a.note, "public_note": None,
            "sick_note": bool(a.note) if kind in (4, 5) else None, "count_days": a.days,
        }  # fmt: skip
        if kind == 3:  # hour absences (overtime reduction) count hours instead of days
            row["count_hours"] = a.hours
        row |= {
            "date_enquired": day_text(a.requested_on),
            "date_approved": day_text(a.approved_on),
            "approved_by": a.approved_by,
        }
        out.append(row)
    return out


def target_hours(org: Org) -> list[Record]:
    out = []
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for u, p in enumerate(org.people):
        for s in p.schedules:
            row: Record = {
                "id": s.id, "users_id": p.id, "type": "weekly",
                "surcharge_models_id": SURCHARGE_STANDARD if u % 3 == 2 else None,
                "date_since": day_text(s.since), "date_until": day_text(s.until), "test_data": False,
                "compensation_monthly": 0,
            }  # fmt: skip
            if s.until is None and len({h for h in s.hours if h}) == 1 and sum(s.hours) < 30:
                # part-timers on equal days are kept as a monthly target, so both shapes occur
                row["type"] = "monthly"
                row["monthly_target"] = round(sum(s.hours) * 52 / 12, 2)
                row |= {f"workday_{d}": h > 0 for d, h in zip(days, s.hours, strict=True)}
            else:
                row |= dict(zip(days, s.hours, strict=True))
                row |= {"absence_fixed_credit": False, "compensation_daily": 0}
            out.append(row)
    return out


def _years(org: Org, p: Person) -> range:
    return range(max(org.first_day.year, p.start_date.year), org.anchor.year + 1)


def overtime_carries(org: Org) -> list[Record]:
    out: list[Record] = []
    for p in org.people:
        for year in _years(org, p):
            hours = (mix(p.id * 7919 + year) % 101 - 20) / 2  # -10 .. +40 in half hours
            note = "Agreed in annual review" if hours > 30 else None
            out.append(
                {"id": 60_000 + len(out) + 1, "users_id": p.id, "year": year, "hours": hours, "note": note}
            )
    return out


def holidays_carries(org: Org) -> list[Record]:
    out: list[Record] = []
    for p in org.people:
        for year in _years(org, p):
            count = (mix(p.id * 104_729 + year) % 11) / 2  # 0 .. 5 days in halves
            out.append(
                {"id": 61_000 + len(out) + 1, "users_id": p.id, "year": year, "count": count, "note": None}
            )
    return out


def holidays_quota(org: Org) -> list[Record]:
    """Rows only for people off the company default (28 days), who have `default_holidays_count` false."""
    out: list[Record] = []
    for p in org.people:
        if p.vacation_days == 28:
            continue
        since = p.start_date.year
        if since < org.anchor.year - 2:  # an older, closed row before the current open-ended one
            rid = 62_000 + len(out) + 1
            out.append({"id": rid, "users_id": p.id, "year_since": since, "year_until": org.anchor.year - 2,
                        "count": 28.0, "note": None})  # fmt: skip
            since = org.anchor.year - 1
        rid = 62_000 + len(out) + 1
        out.append({"id": rid, "users_id": p.id, "year_since": since, "year_until": None,
                    "count": float(p.vacation_days), "note": "Seniority"})  # fmt: skip
    return out


def nonbusiness_definitions(org: Org) -> list[Record]:
    """Holiday definitions; `nonbusiness_days_for(year)` evaluates them (recurring ids repeat yearly)."""
    out, special = [], 0
    for h in org.holidays:
        row: Record = {
            "id": h.id, "nonbusiness_group_id": NONBUSINESS_GROUP,
            "type": {"fixed": "DISTINCT_RECURRING", "easter": "SPECIAL", "once": "DISTINCT_ONCE"}[h.kind],
            "name": h.name, "half_day": h.half_day, "surcharge_special": (h.month, h.day) in {(12, 25), (5, 1)},
        }  # fmt: skip
        if h.kind == "easter":
            special += 1
            row |= {"special_id": special, "_easter_offset": h.offset}
        else:
            row |= {"day": h.day, "month": h.month}
            if h.kind == "once":
                row["year"] = h.year
        out.append(row)
    return out


def surcharge_models() -> list[Record]:
    whole_day = {"percent": 100, "time_since": "00:00:00", "time_until": "00:00:00",
                 "time_since_is_previous_day": False, "time_until_is_next_day": True}  # fmt: skip
    return [
        {
            "id": SURCHARGE_STANDARD, "name": "Standard", "accumulation": False,
            "night": {"percent": 25, "time_since": "22:00:00", "time_until": "06:00:00"},
            "night_increased": {"percent": 40, "time_since": "00:00:00", "time_until": "04:00:00"},
            "nonbusiness": whole_day, "nonbusiness_special": {**whole_day, "percent": 150},
            "sunday": {**whole_day, "percent": 50},
        },
        {"id": SURCHARGE_STANDARD + 1, "name": "Weekend only", "accumulation": True,
         "saturday": {**whole_day, "percent": 25}, "sunday": {**whole_day, "percent": 50}},
    ]  # fmt: skip


def access(org: Org, person_id: int) -> Record:
    """customer/project rights: true = all; or {"<customers_id>": true | {"projects": {...}}}."""
    person = org.person_by_id[person_id]
    if person.role == "owner":
        return {"add": True, "report": True, "edit": True}
    by_client: dict[str, Any] = {}
    for pid in person.portfolio:
        project = org.project_by_id[pid]
        if org.client_by_id[project.client_id].internal:
            by_client[str(project.client_id)] = True
        elif by_client.get(str(project.client_id)) is not True:
            by_client.setdefault(str(project.client_id), {"projects": {}})["projects"][str(pid)] = True
    leads = any(t.leader_id == person_id for t in org.teams)
    return {"add": by_client, "report": by_client if leads else False, "edit": False}


BUILDERS = {
    "users": users, "teams": teams, "customers": customers, "projects": projects, "services": services,
    "lumpsum_services": lumpsum_services, "absences": absences, "target_hours": target_hours,
    "overtime_carries": overtime_carries, "holidays_carries": holidays_carries,
    "holidays_quota": holidays_quota, "non_business_days": nonbusiness_definitions,
    "surcharges": lambda org: surcharge_models(),
}  # fmt: skip
