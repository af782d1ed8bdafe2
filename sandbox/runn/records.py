"""Runn's request schemas and response shapes: clients, projects, roles, people, contracts, actuals.

The schemas state the reference's facts as data (§6: required properties, types, minimums, enums);
`params.validate` applies them. The renderers pick a stored record's public properties in the order
of the reference's examples; stored records also hold internal keys (`_source`, `_writes`) that only
the admin API shows.

Enums keep to the values the reference confirms (`pricingModel` tm/fp, `rateType` hours,
`employmentType` employee/contractor): other values Runn may accept are UNCONFIRMED and refused.
"""

from __future__ import annotations

from typing import Any

from sandbox.runn.params import WEEKDAYS, Field

Record = dict[str, Any]
PRICING_MODELS = ("tm", "fp")
RATE_TYPES = ("hours",)
EMPLOYMENT_TYPES = ("employee", "contractor")
STANDARD_RATE_CARD = 1  # the account's standard rate card: a project's rateCardId when none is given
MINUTES_PER_DAY = 480  # the account's default minutes per day (value UNCONFIRMED)


def _custom_fields() -> Record:
    return {"select": [], "text": [], "checkbox": [], "date": []}


_REFS = Field("references")
CLIENT_INPUT = {
    "name": Field("string", True, min_length=1),
    "website": Field("url", nullable=True),
    "references": _REFS,
}
CLIENT_PATCH = {
    "name": Field("string", min_length=1),
    "website": Field("url", nullable=True),
    "isArchived": Field("boolean"),
    "references": _REFS,
}
_PROJECT_FIELDS = {
    "emoji": Field("string", nullable=True),
    "isConfirmed": Field("boolean"),
    "budget": Field("number", nullable=True, minimum=0),
    "expensesBudget": Field("number", nullable=True, minimum=0),
    "teamId": Field("integer", nullable=True),
    "pricingModel": Field("string", enum=PRICING_MODELS),
    "rateCardId": Field("integer", nullable=True),
    "rateType": Field("string", enum=RATE_TYPES),
    "references": _REFS,
    "managerIds": Field("ids"),
}
PROJECT_INPUT = {
    "name": Field("string", True, min_length=1),
    "clientId": Field("integer", True),
    "isTemplate": Field("boolean"),
    **_PROJECT_FIELDS,
}
PROJECT_PATCH = {  # UNCONFIRMED: the reference names PATCH /projects/{id} but not its body
    "name": Field("string", min_length=1),
    "clientId": Field("integer"),
    "isArchived": Field("boolean"),
    **_PROJECT_FIELDS,
}
ROLE_INPUT = {
    "name": Field("string", True, min_length=1),
    "defaultHourCost": Field("number", minimum=0),
    "standardRate": Field("number", minimum=0),
    "references": _REFS,
}
CONTRACT_FIELDS = {
    "endDate": Field("date", nullable=True),
    "employmentType": Field("string", enum=EMPLOYMENT_TYPES),
    "costPerHour": Field("number", minimum=0),
    "minutesPerDay": Field("integer", minimum=1),
    "rosteredDays": Field("weekdays"),
    "jobTitle": Field("string", nullable=True),
}
PERSON_FIELDS = {
    "email": Field("email", nullable=True),
    "teamId": Field("integer", nullable=True),
    "holidaysGroupId": Field("integer", nullable=True),
    "tags": Field("id_objects"),
    "managers": Field("id_objects"),
    "references": _REFS,
}
PERSON_INPUT = {
    "firstName": Field("string", True, min_length=1),
    "lastName": Field("string", True, min_length=1),
    "roleId": Field("integer", True),
    "startDate": Field("date"),
    **CONTRACT_FIELDS,
    **PERSON_FIELDS,
}
PERSON_PATCH = {  # the properties whose change makes a person "modified" (reference §5), plus links
    "firstName": Field("string", min_length=1),
    "lastName": Field("string", min_length=1),
    "isArchived": Field("boolean"),
    **PERSON_FIELDS,
}
CONTRACT_INPUT = {  # UNCONFIRMED: ContractInput was read for the reference but its properties not listed
    "roleId": Field("integer", True),
    "startDate": Field("date", True),
    **CONTRACT_FIELDS,
}
ACTUAL_INPUT = {
    "date": Field("date", True),
    "billableMinutes": Field("number", minimum=0),
    "nonbillableMinutes": Field("number", minimum=0),
    "billableNote": Field("string", nullable=True),
    "nonbillableNote": Field("string", nullable=True),
    "phaseId": Field("integer", nullable=True),
    "personId": Field("integer", True),
    "projectId": Field("integer", True),
    "roleId": Field("integer", True),
    "workstreamId": Field("integer", nullable=True),
}

CLIENT_KEYS = ("id", "name", "website", "isArchived", "references", "createdAt", "updatedAt")
PROJECT_KEYS = (
    "id", "name", "isTemplate", "isArchived", "isConfirmed", "pricingModel", "rateType", "teamId", "budget",
    "expensesBudget", "references", "clientId", "rateCardId", "customFields", "managerIds", "tags",
    "createdAt", "updatedAt",
)  # fmt: skip
ROLE_KEYS = ("id", "name", "isArchived", "defaultHourCost", "standardRate", "references")
PERSON_KEYS = (
    "id", "firstName", "lastName", "email", "isArchived", "teamId", "references", "tags", "holidaysGroupId",
    "managers", "createdAt", "updatedAt",
)  # fmt: skip
PERSON_EXTRA = ("notes", "skills", "customFields")
CONTRACT_KEYS = (
    "id", "personId", "roleId", "startDate", "endDate", "employmentType", "costPerHour", "minutesPerDay",
    "rosteredDays", "jobTitle", "createdAt", "updatedAt",
)  # fmt: skip
ACTUAL_KEYS = (
    "id", "date", "billableMinutes", "nonbillableMinutes", "billableNote", "nonbillableNote", "phaseId",
    "personId", "projectId", "roleId", "workstreamId", "createdAt", "updatedAt",
)  # fmt: skip


def pick(record: Record, keys: tuple[str, ...]) -> Record:
    return {k: record[k] for k in keys}


def client(record: Record) -> Record:
    return pick(record, CLIENT_KEYS)


def project(record: Record) -> Record:
    return pick(record, PROJECT_KEYS)


def role(record: Record, person_ids: list[int]) -> Record:
    return {**pick(record, ROLE_KEYS), "personIds": person_ids,
            "createdAt": record["createdAt"], "updatedAt": record["updatedAt"]}  # fmt: skip


def person_in_list(record: Record) -> Record:
    """`CollectionPerson`: the shape of `GET /people/` items."""
    return pick(record, PERSON_KEYS)


def person(record: Record) -> Record:
    """`Person`: one person (GET/POST/PATCH), `CollectionPerson` plus notes, skills, custom fields."""
    return {**pick(record, PERSON_KEYS[:-2]), **pick(record, PERSON_EXTRA),
            "createdAt": record["createdAt"], "updatedAt": record["updatedAt"]}  # fmt: skip


def contract(record: Record) -> Record:
    return pick(record, CONTRACT_KEYS)


def actual(record: Record) -> Record:
    return pick(record, ACTUAL_KEYS)


def new_client(body: Record) -> Record:
    return {"name": body["name"], "website": body.get("website"), "isArchived": False,
            "references": body.get("references", [])}  # fmt: skip


def new_project(body: Record) -> Record:
    return {
        "name": body["name"],
        "isTemplate": body.get("isTemplate", False),
        "isArchived": False,
        "isConfirmed": body.get("isConfirmed", False),
        "pricingModel": body.get("pricingModel", "tm"),  # "Defaults to 'tm'"
        "rateType": body.get("rateType", RATE_TYPES[0]),  # "Defaults to account rate type"
        "teamId": body.get("teamId"),
        "budget": body.get("budget"),
        "expensesBudget": body.get("expensesBudget"),
        "references": body.get("references", []),
        "clientId": body["clientId"],
        "rateCardId": body.get("rateCardId")
        or STANDARD_RATE_CARD,  # "Uses standard rate card if not specified"
        "customFields": _custom_fields(),
        "managerIds": body.get("managerIds", []),
        "tags": [],
        "emoji": body.get("emoji"),
    }


def new_role(body: Record) -> Record:
    return {"name": body["name"], "isArchived": False, "defaultHourCost": body.get("defaultHourCost", 0),
            "standardRate": body.get("standardRate", 0), "references": body.get("references", [])}  # fmt: skip


def new_person(body: Record) -> Record:
    return {
        "firstName": body["firstName"],
        "lastName": body["lastName"],
        "email": body.get("email"),
        "isArchived": False,
        "teamId": body.get("teamId"),
        "references": body.get("references", []),
        "tags": body.get("tags", []),
        "holidaysGroupId": body.get("holidaysGroupId"),
        "managers": body.get("managers", []),
        "notes": [],
        "skills": [],
        "customFields": _custom_fields(),
    }


def new_contract(person_id: int, body: Record, start: str, role_cost: float) -> Record:
    minutes = body.get("minutesPerDay", MINUTES_PER_DAY)
    return {
        "personId": person_id,
        "roleId": body["roleId"],
        "startDate": start,
        "endDate": body.get("endDate"),
        "employmentType": body.get("employmentType", "employee"),
        "costPerHour": body.get("costPerHour", role_cost),  # "Defaults to the role's cost per hour"
        "minutesPerDay": minutes,
        "rosteredDays": body.get("rosteredDays") or dict.fromkeys(WEEKDAYS, minutes),
        "jobTitle": body.get("jobTitle"),
    }
