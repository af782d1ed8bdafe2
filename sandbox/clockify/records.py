"""The agency's dimensions in Clockify's shapes (reference §4.1-4.6, 4.9, 4.10).

The same people, clients and projects as the Clockodo sandbox; Clockodo's services become each
project's tasks (one task per service assigned to the project) and a few workflow tags are added.
Fields starting with `_` are the sandbox's own bookkeeping (membership status, roles...) and never
leave the app. Builders return the generated records of the main workspace; the personal workspace
holds only its owner.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sandbox.clockify.ids import Ids, duration, rate
from sandbox.org import Org, Person, mix

Record = dict[str, Any]
CURRENCY = "EUR"
WORKSPACE_RATE = 100.0
COLORS = (
    "#f44336", "#e91e63", "#9c27b0", "#673ab7", "#3f51b5", "#2196f3", "#03a9f4", "#009688",
    "#4caf50", "#8bc34a", "#ff9800", "#795548",
)  # fmt: skip
TAGS = (("Meeting", False), ("Remote", False), ("Urgent", False), ("Review", False),
        ("Overtime", False), ("Legacy (2019)", True))  # fmt: skip
JOB_TITLES = {
    "Design": "Designer", "Development": "Developer", "Strategy & Accounts": "Account manager",
    "Content": "Content writer", "Data": "Data analyst", "Motion": "Motion designer",
}  # fmt: skip
LOCATIONS = ("Office", "Home", "Client site")
# custom fields: (int id, name, entity type, type, status, allowed values, default)
CUSTOM_FIELDS = (
    (1, "Job title", "USER", "TXT", "VISIBLE", (), None),
    (2, "Work location", "TIMEENTRY", "DROPDOWN_SINGLE", "VISIBLE", LOCATIONS, "Office"),
    (3, "Cost centre", "TIMEENTRY", "TXT", "INACTIVE", (), None),
)
JOB_TITLE_FIELD, LOCATION_FIELD = 1, 2


def color(project_id: int) -> str:
    return COLORS[project_id % len(COLORS)]


def cost_rate(person: Person) -> float:
    """What an hour of this person costs the agency (EUR); used for COST/PROFIT amounts."""
    return 35.0 + 5 * (mix(person.id * 131) % 8)


def job_title(org: Org, p: Person) -> str:
    if p.role == "owner" or p.team_id is None:
        return "Managing director"
    team = next((t for t in org.teams if t.id == p.team_id), None)
    if team is None:
        return "Consultant"
    # teams beyond the six names are numbered ("Design 2")
    title = JOB_TITLES.get(team.name) or JOB_TITLES.get(team.name.rsplit(" ", 1)[0], "Consultant")
    return f"Lead {title.lower()}" if team.leader_id == p.id else title


def task_number(project_id: int, service_id: int) -> int:
    return project_id * 1000 + service_id


def settings(p: Person) -> Record:
    german = p.language == "de"
    return {
        "weekStart": "MONDAY", "timeZone": p.timezone, "timeFormat": "HOUR24",
        "dateFormat": "DD.MM.YYYY" if german else "DD/MM/YYYY", "sendNewsletter": False,
        "weeklyUpdates": p.role == "owner", "longRunning": True, "scheduledReports": p.role == "owner",
        "approval": True, "pto": True, "alerts": True, "reminders": True, "timeTrackingManual": p.id % 3 != 0,
        "summaryReportSettings": {"group": "PROJECT", "subgroup": "CLIENT"}, "isCompactViewOn": False,
        "dashboardSelection": "ME", "dashboardViewType": "PROJECT", "dashboardPinToTop": False,
        "projectListCollapse": 50, "collapseAllProjectLists": False, "groupSimilarEntriesDisabled": False,
        "myStartOfDay": "09:00", "projectPickerTaskFilter": False, "lang": "DE" if german else "EN",
        "multiFactorEnabled": False, "scheduling": True, "onboarding": False,
        "showOnlyWorkingDays": False, "theme": "DARK" if p.id % 5 == 0 else "LIGHT",
    }  # fmt: skip


def users(org: Org, ids: Ids, ws: str) -> list[Record]:
    leaders = {t.leader_id for t in org.teams}
    out: list[Record] = []
    for p in org.people:
        uid = ids("user", p.id)
        role = "OWNER" if p.role == "owner" else "TEAM_MANAGER" if p.id in leaders else None
        out.append({
            "id": uid, "email": p.email, "name": p.name, "status": "ACTIVE",
            "profilePicture": "https://img.clockify.me/no-user-image.png",
            "activeWorkspace": ws, "defaultWorkspace": ws, "memberships": [],
            "customFields": [{
                "customFieldId": ids("custom_field", JOB_TITLE_FIELD), "customFieldName": "Job title",
                "customFieldType": "TXT", "userId": uid, "value": job_title(org, p),
            }],
            "settings": settings(p),
            # workspace membership: who left is INACTIVE; per-member rates (hourly: none, the
            # project's rate applies; cost: the person's cost)
            "_membershipStatus": "ACTIVE" if p.active else "INACTIVE",
            "_hourlyRate": None, "_costRate": rate(cost_rate(p)), "_role": role,
        })  # fmt: skip
    return out


def clients(org: Org, ids: Ids, ws: str) -> list[Record]:
    out: list[Record] = []
    for c in org.clients:
        slug = "".join(ch for ch in c.name.lower() if ch.isalnum())[:20]
        out.append({
            "id": ids("client", c.id), "name": c.name,
            "email": None if c.internal else f"accounts@{slug}.example",
            "address": None if c.internal else f"{c.number}, Berlin", "note": c.note or "",
            "workspaceId": ws, "archived": not c.active, "currencyId": ids("currency", 1),
            "currencyCode": CURRENCY, "ccEmails": [],
        })  # fmt: skip
    return out


def project_archived(org: Org, project_id: int) -> bool:
    p = org.project_by_id[project_id]
    done = p.completed_at is not None and p.completed_at < org.anchor
    return done or not org.client_by_id[p.client_id].active


def projects(org: Org, ids: Ids, ws: str) -> list[Record]:
    out: list[Record] = []
    for p in org.projects:
        members = [q for q in org.people if p.id in q.portfolio]
        hours = p.budget_hours
        out.append({
            "id": ids("project", p.id), "name": p.name, "workspaceId": ws,
            "clientId": ids("client", p.client_id), "clientName": org.client_by_id[p.client_id].name,
            "color": color(p.id), "note": p.note or "", "archived": project_archived(org, p.id),
            "billable": p.billable, "public": not p.billable, "template": False,
            "hourlyRate": rate(p.hourly_rate) if p.billable else None, "costRate": None,
            "duration": "PT0S",  # total tracked time, filled in from the ledger when listed
            "estimate": {"estimate": duration(int(hours * 3600)) if hours else "PT0S",
                         "type": "MANUAL" if hours else "AUTO"},
            "timeEstimate": {"estimate": duration(int(hours * 3600)) if hours else "PT0S",
                             "type": "MANUAL" if hours else "AUTO", "resetOption": None,
                             "active": bool(hours), "includeNonBillable": True},
            "budgetEstimate": None if p.budget_money is None else {
                "estimate": round(p.budget_money * 100), "type": "MANUAL", "resetOption": None,
                "active": True, "includeExpenses": False},
            "memberships": [
                {"userId": ids("user", q.id), "targetId": ids("project", p.id), "membershipType": "PROJECT",
                 "membershipStatus": "ACTIVE" if q.active else "INACTIVE", "hourlyRate": None,
                 "costRate": None}
                for q in members
            ],
        })  # fmt: skip
    return out


def tasks(org: Org, ids: Ids, ws: str) -> list[Record]:
    out: list[Record] = []
    for p in org.projects:
        archived = project_archived(org, p.id)
        for sid in p.service_ids:
            s = org.service_by_id[sid]
            out.append({
                "id": ids("task", task_number(p.id, sid)), "name": s.name, "projectId": ids("project", p.id),
                "assigneeIds": [], "assigneeId": None, "userGroupIds": [],
                "billable": p.billable and s.billable,
                "status": "DONE" if archived or not s.active else "ACTIVE", "estimate": "PT0S",
                "duration": "PT0S", "budgetEstimate": 0, "hourlyRate": None, "costRate": None,
            })  # fmt: skip
    return out


def tags(org: Org, ids: Ids, ws: str) -> list[Record]:
    return [
        {"id": ids("tag", i + 1), "name": name, "workspaceId": ws, "archived": archived}
        for i, (name, archived) in enumerate(TAGS)
    ]


def user_groups(org: Org, ids: Ids, ws: str) -> list[Record]:
    return [
        {
            "id": ids("user_group", t.id),
            "name": t.name,
            "workspaceId": ws,
            "userIds": [ids("user", u) for u in t.member_ids],
            "_leader": ids("user", t.leader_id) if t.leader_id else None,
        }
        for t in org.teams
    ]


def custom_fields(org: Org, ids: Ids, ws: str) -> list[Record]:
    internal = [p.id for p in org.projects if not p.billable]
    out = []
    for n, name, entity, kind, status, allowed, default in CUSTOM_FIELDS:
        out.append({
            "id": ids("custom_field", n), "name": name, "description": "", "placeholder": name,
            "workspaceId": ws, "type": kind, "entityType": entity, "status": status, "required": False,
            "onlyAdminCanEdit": entity == "USER", "allowedValues": list(allowed),
            "workspaceDefaultValue": default,
            "projectDefaultValues": [
                {"projectId": ids("project", pid), "status": "VISIBLE", "value": "Office"} for pid in internal
            ] if n == LOCATION_FIELD else [],
        })  # fmt: skip
    return out


def workspace(org: Org, ids: Ids, n: int, name: str, plan: str, members: list[Person]) -> Record:
    """A workspace; n=1 is the agency, n=2 the owner's personal (FREE) one."""
    wid = ids("workspace", n)
    return {
        "id": wid, "name": name, "hourlyRate": rate(WORKSPACE_RATE), "costRate": rate(0.0),
        "memberships": [
            {"userId": ids("user", p.id), "targetId": wid, "membershipType": "WORKSPACE",
             "membershipStatus": "ACTIVE" if p.active else "INACTIVE", "hourlyRate": None,
             "costRate": rate(cost_rate(p))}
            for p in members
        ],
        "workspaceSettings": {
            "timeRoundingInReports": False, "onlyAdminsSeeBillableRates": True,
            "onlyAdminsCreateProject": True, "onlyAdminsSeeDashboard": False, "defaultBillableProjects": True,
            "lockTimeEntries": None, "lockTimeZone": None, "round": {"round": "Round to nearest", "minutes": "15"},
            "projectFavorites": True, "canSeeTimeSheet": True, "canSeeTracker": True,
            "projectPickerSpecialFilter": False, "forceProjects": n == 1, "forceTasks": False,
            "forceTags": False, "forceDescription": False, "onlyAdminsSeeAllTimeEntries": True,
            "onlyAdminsSeePublicProjectsEntries": False, "trackTimeDownToSecond": True,
            "projectGroupingLabel": "client", "adminOnlyPages": [], "automaticLock": None,
            "onlyAdminsCreateTag": False, "onlyAdminsCreateTask": False, "timeTrackingMode": "DEFAULT",
            "isProjectPublicByDefault": False, "workingDays": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY",
                                                                 "FRIDAY"],
            "durationFormat": "FULL", "numberFormat": "COMMA_PERIOD", "currencyFormat": "CURRENCY_SPACE_VALUE",
            "entityCreationPermissions": {"whoCanCreateProjectsAndClients": "ADMINS",
                                          "whoCanCreateTags": "EVERYONE", "whoCanCreateTasks": "EVERYONE"},
        },
        "imageUrl": "", "featureSubscriptionType": plan,
        "features": ["TIME_TRACKING", "APPROVAL", "EXPENSES", "INVOICING", "TIME_OFF", "SCHEDULING",
                     "CUSTOM_FIELDS", "USER_CUSTOM_FIELDS", "WHO_CAN_CHANGE_TIMEENTRY_BILLABILITY"]
        if plan != "FREE" else ["TIME_TRACKING"],
        "currencies": [{"id": ids("currency", 1), "code": CURRENCY, "isDefault": True}],
        "subdomain": {"enabled": False, "name": None},
        "cakeOrganizationId": f"{ids.prefix}{mix(org.options.seed + n) % (1 << 64):016x}",
    }  # fmt: skip


def day_text(d: date | None) -> str | None:
    return d.isoformat() if d else None


BUILDERS = {
    "users": users, "clients": clients, "projects": projects, "tasks": tasks, "tags": tags,
    "user_groups": user_groups, "custom_fields": custom_fields,
}  # fmt: skip
