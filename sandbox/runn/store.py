"""The Runn account in memory, and the rules of every write (the API and the admin API share them).

Tables of clients, projects, roles, people, contracts and actuals, keyed by integer ids that the
server assigns, increasing per table (each table starts at its own base, so an id sent in the wrong
field does not happen to exist). `createdAt`/`updatedAt` are ISO-8601 UTC with milliseconds, strictly
increasing across the account, and `updatedAt` moves only when a write changes something (actuals:
on every write, reference §8.6).

Actuals are keyed by (personId, projectId, roleId, workstreamId, date): `POST /actuals/` and the bulk
endpoint replace the day's minutes and notes and keep the id; `POST /actuals/time-entry` adds minutes.
The sandbox's account has no teams, tags, holiday groups, users (managers), phases or workstreams, and
one rate card (the standard one): a request linking to any other such id is a 400, as a link to a
missing record would be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.runn import records
from sandbox.runn.params import ApiError, bad, not_found, stamp, validate
from sandbox.runn.records import STANDARD_RATE_CARD, WEEKDAYS
from sandbox.store import Sequences

Record = dict[str, Any]
TABLES = ("clients", "projects", "roles", "people", "contracts", "actuals")
ID_BASES = {"clients": 451000, "projects": 1900, "roles": 70, "people": 5000, "contracts": 30000,
            "actuals": 900000}  # fmt: skip
WHAT = {"clients": "Client", "projects": "Project", "roles": "Role", "people": "Person",
        "contracts": "Contract", "actuals": "Actual"}  # fmt: skip
# links to kinds of objects the sandbox's account has none of
ABSENT = {"teamId": "Team", "holidaysGroupId": "Holidays group", "tags": "Tag", "managers": "User",
          "managerIds": "User", "phaseId": "Phase", "workstreamId": "Workstream"}  # fmt: skip
# what `unique_names` (off by default: the reference documents no uniqueness) makes unique, case-insensitively
UNIQUE = {"clients": ("name",), "roles": ("name",), "projects": ("clientId", "name"), "people": ("email",)}
BULK_MAX = 100  # clients and actuals bulk: 1..100 items per request


def bulk_items(body: Any, key: str) -> list[Any]:
    """The items of a bulk body `{"<key>": [...]}`: an array of 1..100."""
    data = body
    if not isinstance(data, dict):
        raise bad("body must be object")
    if key not in data:
        raise bad(f"body must have required property '{key}'")
    extra = [k for k in data if k != key]
    if extra:
        raise bad(f"body must NOT have additional properties: '{extra[0]}'")
    items = data[key]
    if not isinstance(items, list):
        raise bad(f"body/{key} must be array")
    if not items:
        raise bad(f"body/{key} must NOT have fewer than 1 items")
    if len(items) > BULK_MAX:
        raise bad(f"body/{key} must NOT have more than {BULK_MAX} items")
    return items


def _actual_key(data: Record) -> tuple[Any, ...]:
    return (data["personId"], data["projectId"], data["roleId"], data.get("workstreamId"), data["date"])


class Store:
    """Every record of the sandbox's Runn account."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.reset()

    def reset(self) -> None:
        self.tables: dict[str, dict[int, Record]] = {t: {} for t in TABLES}
        self.ids = Sequences(ID_BASES)
        self.actual_keys: dict[tuple[Any, ...], int] = {}
        self.unique_names = False
        self._last: datetime | None = None

    # -- basics ---------------------------------------------------------------------------------
    def now(self) -> str:
        moment = self.clock().astimezone(UTC)
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        if self._last is not None and moment <= self._last:
            moment = self._last + timedelta(milliseconds=1)
        self._last = moment
        return stamp(moment)

    def today(self) -> str:
        return self.clock().astimezone(UTC).date().isoformat()

    def rows(self, table: str) -> list[Record]:
        return list(self.tables[table].values())

    def get(self, table: str, ident: int) -> Record:
        record = self.tables[table].get(ident)
        if record is None:
            raise not_found(WHAT[table], ident)
        return record

    def linked(self, table: str, ident: int) -> Record:
        """A record a request body links to: a missing one is a 400 (UNCONFIRMED status)."""
        record = self.tables[table].get(ident)
        if record is None:
            raise bad(f"{WHAT[table]} with id {ident} not found")
        return record

    def insert(self, table: str, fields: Record, source: str, ident: int | None = None) -> Record:
        if ident is None:
            ident = self.ids.next(table)
        elif ident in self.tables[table]:
            raise ApiError(409, f"{WHAT[table]} with id {ident} already exists")
        else:
            self.ids.claim(table, ident)
        ts = self.now()
        record = {"id": ident, **fields, "createdAt": ts, "updatedAt": ts, "_source": source, "_writes": 1}
        self.tables[table][ident] = record
        return record

    def update(self, record: Record, fields: Record, always: bool = False) -> Record:
        """PATCH semantics: only the given properties change; `updatedAt` moves if one did."""
        changed = {k: v for k, v in fields.items() if record.get(k) != v}
        if changed or always:
            record.update(changed)
            record["updatedAt"] = self.now()
            record["_writes"] += 1
        return record

    @staticmethod
    def absent(data: Record) -> None:
        for name, what in ABSENT.items():
            value = data.get(name)
            ids = (
                [v["id"] if isinstance(v, dict) else v for v in value] if isinstance(value, list) else [value]
            )
            found = [i for i in ids if i is not None]
            if found:
                raise bad(f"{what} with id {found[0]} not found")
        card = data.get("rateCardId")
        if card is not None and card != STANDARD_RATE_CARD:
            raise bad(f"Rate card with id {card} not found")

    def unique(self, table: str, candidate: Record, ident: int | None, batch: Sequence[Record] = ()) -> None:
        keys = UNIQUE.get(table)
        if not self.unique_names or keys is None or candidate.get(keys[-1]) is None:
            return

        def norm(r: Record) -> tuple[Any, ...]:
            return tuple(str(r[k]).lower() if isinstance(r.get(k), str) else r.get(k) for k in keys)

        mine = norm(candidate)
        if any(r["id"] != ident and norm(r) == mine for r in self.rows(table)) or any(
            norm(r) == mine for r in batch
        ):
            raise ApiError(
                409, f"A {WHAT[table].lower()} with {keys[-1]} '{candidate[keys[-1]]}' already exists"
            )

    # -- clients, projects, roles ---------------------------------------------------------------
    def create_client(self, body: Any, source: str = "api", ident: int | None = None) -> Record:
        fields = records.new_client(validate(body, records.CLIENT_INPUT))
        self.unique("clients", fields, None)
        return self.insert("clients", fields, source, ident)

    def create_clients(self, body: Any) -> list[Record]:
        """Bulk: every item is checked before any is created (partial failure is UNCONFIRMED)."""
        batch: list[Record] = []
        for i, item in enumerate(bulk_items(body, "clients")):
            fields = records.new_client(validate(item, records.CLIENT_INPUT, f"body/clients/{i}"))
            self.unique("clients", fields, None, batch)
            batch.append(fields)
        return [self.insert("clients", fields, "api") for fields in batch]

    def update_client(self, ident: int, body: Any) -> Record:
        record = self.get("clients", ident)
        data = validate(body, records.CLIENT_PATCH)
        self.unique("clients", {**record, **data}, ident)
        return self.update(record, data)

    def create_project(self, body: Any, source: str = "api", ident: int | None = None) -> Record:
        data = validate(body, records.PROJECT_INPUT)
        self.linked("clients", data["clientId"])
        self.absent(data)
        fields = records.new_project(data)
        self.unique("projects", fields, None)
        return self.insert("projects", fields, source, ident)

    def update_project(self, ident: int, body: Any) -> Record:
        record = self.get("projects", ident)
        data = validate(body, records.PROJECT_PATCH)
        if "clientId" in data:
            self.linked("clients", data["clientId"])
        self.absent(data)
        if "rateCardId" in data and data["rateCardId"] is None:
            data["rateCardId"] = STANDARD_RATE_CARD
        self.unique("projects", {**record, **data}, ident)
        return self.update(record, data)

    def create_role(self, body: Any, source: str = "api", ident: int | None = None) -> Record:
        fields = records.new_role(validate(body, records.ROLE_INPUT))
        self.unique("roles", fields, None)
        return self.insert("roles", fields, source, ident)

    # -- people and contracts -------------------------------------------------------------------
    def _contract_rules(self, data: Record, start: str) -> None:
        end = data.get("endDate")
        if end is not None and end < start:
            raise bad("endDate must not be before startDate")
        days, minutes = data.get("rosteredDays"), data.get("minutesPerDay", records.MINUTES_PER_DAY)
        if days is not None and any(days[d] not in (0, minutes) for d in WEEKDAYS):
            raise bad("body/rosteredDays: every value must be the same as minutesPerDay or 0")

    def create_person(self, body: Any, source: str = "api", ident: int | None = None) -> Record:
        """A person and their first contract (`roleId`, `startDate` default today) (reference §6.4)."""
        data = validate(body, records.PERSON_INPUT)
        role = self.linked("roles", data["roleId"])
        self.absent(data)
        start = data.get("startDate") or self.today()
        self._contract_rules(data, start)
        fields = records.new_person(data)
        self.unique("people", fields, None)
        person = self.insert("people", fields, source, ident)
        self.insert(
            "contracts", records.new_contract(person["id"], data, start, role["defaultHourCost"]), source
        )
        return person

    def update_person(self, ident: int, body: Any) -> Record:
        record = self.get("people", ident)
        data = validate(body, records.PERSON_PATCH)
        self.absent(data)
        self.unique("people", {**record, **data}, ident)
        return self.update(record, data)

    def delete_person(self, ident: int, force: bool) -> None:
        """Refused while the person has actuals, unless forced; then their actuals go too."""
        self.get("people", ident)
        actuals = [a for a in self.rows("actuals") if a["personId"] == ident]
        if actuals and not force:
            raise bad(f"Person with id {ident} has actuals: delete them first or pass force=true")
        for a in actuals:
            self.delete_actual(a["id"])
        for c in self.contracts_of(ident):
            del self.tables["contracts"][c["id"]]
        del self.tables["people"][ident]

    def contracts_of(self, person_id: int) -> list[Record]:
        return sorted(
            (c for c in self.rows("contracts") if c["personId"] == person_id), key=lambda c: c["startDate"]
        )

    def current_contract(self, person_id: int) -> Record | None:
        """The latest contract started by today, else the first (a person starting in the future)."""
        contracts = self.contracts_of(person_id)
        started = [c for c in contracts if c["startDate"] <= self.today()]
        return started[-1] if started else (contracts[0] if contracts else None)

    def add_contract(self, person_id: int, body: Any, source: str = "api") -> Record:
        """A new contract; the previous one ends the day before it starts (contracts are never edited)."""
        self.get("people", person_id)
        data = validate(body, records.CONTRACT_INPUT)
        role = self.linked("roles", data["roleId"])
        self._contract_rules(data, data["startDate"])
        contracts = self.contracts_of(person_id)
        if contracts and data["startDate"] <= contracts[-1]["startDate"]:
            raise bad("startDate must be after the startDate of the person's latest contract")
        if contracts:
            latest = contracts[-1]
            day_before = (date.fromisoformat(data["startDate"]) - timedelta(days=1)).isoformat()
            if latest["endDate"] is None or latest["endDate"] > day_before:
                self.update(latest, {"endDate": day_before})
        fields = records.new_contract(person_id, data, data["startDate"], role["defaultHourCost"])
        return self.insert("contracts", fields, source)

    def role_person_ids(self, role_id: int) -> list[int]:
        """People whose current contract has the role (UNCONFIRMED: current, not any contract)."""
        out = []
        for person_id in self.tables["people"]:
            current = self.current_contract(person_id)
            if current is not None and current["roleId"] == role_id:
                out.append(person_id)
        return sorted(out)

    # -- actuals --------------------------------------------------------------------------------
    def actual_input(self, body: Any, where: str = "body") -> Record:
        data = validate(body, records.ACTUAL_INPUT, where)
        if "billableMinutes" not in data and "nonbillableMinutes" not in data:
            raise bad(f"{where} must have required property 'billableMinutes' or 'nonbillableMinutes'")
        for table, key in (("people", "personId"), ("projects", "projectId"), ("roles", "roleId")):
            self.linked(table, data[key])
        self.absent(data)
        return data

    def write_actual(self, data: Record, additive: bool = False, source: str = "api") -> Record:
        """Create, or update the actual with the same key: replace its minutes and notes, or add to
        its minutes (`additive`, the time-entry endpoint; notes and phase change only when given)."""
        key = _actual_key(data)
        existing = self.actual_keys.get(key)
        if existing is None:
            fields = {
                "date": data["date"],
                "billableMinutes": data.get("billableMinutes", 0),
                "nonbillableMinutes": data.get("nonbillableMinutes", 0),
                "billableNote": data.get("billableNote"),
                "nonbillableNote": data.get("nonbillableNote"),
                "phaseId": data.get("phaseId"),
                "personId": data["personId"],
                "projectId": data["projectId"],
                "roleId": data["roleId"],
                "workstreamId": data.get("workstreamId"),
            }
            record = self.insert("actuals", fields, source)
            self.actual_keys[key] = record["id"]
            return record
        record = self.tables["actuals"][existing]
        minutes = ("billableMinutes", "nonbillableMinutes")
        if additive:
            change = {k: record[k] + data.get(k, 0) for k in minutes}
            change |= {k: data[k] for k in ("billableNote", "nonbillableNote", "phaseId") if k in data}
        else:
            change = {k: data.get(k, 0) for k in minutes}
            change |= {k: data.get(k) for k in ("billableNote", "nonbillableNote", "phaseId")}
        return self.update(record, change, always=True)

    def write_actuals(self, body: Any) -> list[Record]:
        """Bulk create-or-update: all items are checked first; one key twice in a request is a 400."""
        batch: list[Record] = []
        seen: dict[tuple[Any, ...], int] = {}
        for i, item in enumerate(bulk_items(body, "actuals")):
            data = self.actual_input(item, f"body/actuals/{i}")
            key = _actual_key(data)
            if key in seen:
                raise bad(
                    f"body/actuals/{i} has the same personId, projectId, roleId, workstreamId and date "
                    f"as body/actuals/{seen[key]}"
                )
            seen[key] = i
            batch.append(data)
        return [self.write_actual(data) for data in batch]

    def delete_actual(self, ident: int) -> None:
        record = self.get("actuals", ident)
        del self.actual_keys[_actual_key(record)]
        del self.tables["actuals"][ident]
