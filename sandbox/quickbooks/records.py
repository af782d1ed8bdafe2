"""QuickBooks entities: their properties, create/update/delete rules and errors, and their rendering.

Field lists and rules come from reference §5 and §10 (checklist items 4, 6, 7, 8). Where the reference
says UNCONFIRMED the stricter reading is taken (docs/sandbox-quickbooks.md lists each choice): an
unknown property is refused (6000, `element` names it), values must have the documented JSON types,
names clash case-insensitively and across Customer, Vendor and Employee, a billable TimeActivity needs
a customer and an HourlyRate, and a duration is Hours/Minutes (Minutes 0-59) or StartTime/EndTime,
never both, at most 23 h 55 min.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.listing import public
from sandbox.quickbooks.options import QuickBooksOptions
from sandbox.quickbooks.params import (
    ApiError,
    business,
    duplicate_name,
    invalid_enum,
    invalid_ref,
    object_not_found,
    parse_datetime,
    required,
    stale,
    today,
    typed,
)
from sandbox.quickbooks.store import Company, Record, writable

META = {"Id": "id", "MetaData.CreateTime": "datetime", "MetaData.LastUpdatedTime": "datetime"}
PERSON = ("GivenName", "MiddleName", "FamilyName", "Suffix", "Title", "DisplayName", "PrintOnCheckName",
          "Active", "PrimaryAddr", "PrimaryPhone", "Mobile", "PrimaryEmailAddr")  # fmt: skip


@dataclass(frozen=True)
class Kind:
    """An entity: its name (the envelope key, case-sensitive in queries), the properties a request may
    send, the properties a query may filter and sort on (with their types), and what it allows."""

    name: str
    fields: frozenset[str]
    filterable: Mapping[str, str] = field(default_factory=dict)
    name_list: bool = False  # Employee, Vendor, Customer: one DisplayName space
    creatable: bool = True
    deletable: bool = False

    @property
    def path(self) -> str:
        return self.name.lower()


KINDS = (
    Kind("Employee", frozenset({*PERSON, "EmployeeNumber", "BillRate", "CostRate", "BirthDate", "Gender",
         "HiredDate", "ReleasedDate", "Organization", "BillableTime", "SSN"}),
         {**META, "DisplayName": "str", "GivenName": "str", "FamilyName": "str", "Active": "bool"}, name_list=True),
    Kind("Vendor", frozenset({*PERSON, "CompanyName", "TaxIdentifier", "Balance", "BillRate", "AcctNum",
         "Vendor1099", "TaxReportingBasis", "BillAddr", "WebAddr", "TermRef", "CurrencyRef", "APAccountRef"}),
         {**META, "DisplayName": "str", "GivenName": "str", "FamilyName": "str", "CompanyName": "str",
          "Active": "bool"}, name_list=True),
    Kind("Customer", frozenset({*PERSON, "CompanyName", "IsProject", "Job", "BillWithParent", "ParentRef",
         "Taxable", "Balance", "BalanceWithJobs", "BillAddr", "ShipAddr", "AlternatePhone", "Fax", "WebAddr",
         "CurrencyRef", "Notes"}),
         {**META, "DisplayName": "str", "FullyQualifiedName": "str", "GivenName": "str", "FamilyName": "str",
          "CompanyName": "str", "Active": "bool", "Job": "bool"}, name_list=True),
    Kind("Item", frozenset({"Name", "Description", "Active", "SubItem", "ParentRef", "Type", "UnitPrice",
         "Taxable", "PurchaseCost", "PurchaseDesc", "TrackQtyOnHand", "QtyOnHand", "InvStartDate",
         "IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef", "SalesTaxCodeRef", "Sku"}),
         {**META, "Name": "str", "FullyQualifiedName": "str", "Type": "str", "Sku": "str", "Active": "bool"}),
    Kind("Account", frozenset({"Name", "AccountType", "AccountSubType", "Description", "Active", "AcctNum"}),
         {**META, "Name": "str", "FullyQualifiedName": "str", "AccountType": "str", "Active": "bool"},
         creatable=False),
    Kind("TimeActivity", frozenset({"TxnDate", "NameOf", "EmployeeRef", "VendorRef", "CustomerRef", "ItemRef",
         "ClassRef", "DepartmentRef", "BillableStatus", "Taxable", "HourlyRate", "CostRate", "Hours", "Minutes",
         "BreakHours", "BreakMinutes", "StartTime", "EndTime", "Description", "AttachableRef"}),
         {**META, "TxnDate": "date"}, deletable=True),
)  # fmt: skip
BY_NAME = {k.name: k for k in KINDS}
BY_PATH = {k.path: k for k in KINDS}

READ_ONLY = {"Id", "SyncToken", "MetaData", "domain", "sparse", "FullyQualifiedName", "Level", "time"}
# What a Ref must point at (an existing, active record); the sandbox has no classes or departments.
REF_TARGETS = {"EmployeeRef": "Employee", "VendorRef": "Vendor", "CustomerRef": "Customer", "ItemRef": "Item",
               "ParentRef": "Customer", "IncomeAccountRef": "Account", "ExpenseAccountRef": "Account",
               "AssetAccountRef": "Account", "ClassRef": "Class", "DepartmentRef": "Department"}  # fmt: skip
NAME_OF = ("Employee", "Vendor")
BILLABLE = ("Billable", "NotBillable", "HasBeenBilled")
ITEM_TYPES = ("Service", "NonInventory", "Inventory", "Group", "Category")
MAX_LEVEL = 5  # sub-customers nest at most five levels deep (reference §5.3)


@dataclass
class Writer:
    """Validates and applies writes to one company. `cutoff` (inside a batch): references resolve only
    against records written before the batch began."""

    company: Company
    options: QuickBooksOptions
    cutoff: int | None = None

    # -- operations -------------------------------------------------------------------------------
    def create(self, kind: Kind, body: Any, record_id: str | None = None, admin: bool = False) -> Record:
        """A new record (`admin`: also kinds the API does not create, and a chosen `record_id`)."""
        if not kind.creatable and not admin:
            raise business(f"the sandbox does not create {kind.name} objects through the API")
        fields = self._validate(kind, self._clean(kind, body), None)
        return self.render(kind, self.company.insert(kind.name, fields, record_id))

    def update(self, kind: Kind, body: Any, admin: bool = False) -> Record:
        """A full update, or a sparse one (`"sparse": true`): Id and the current SyncToken needed."""
        current = self._current(kind, body)
        if not kind.creatable and not admin:
            raise business(f"the sandbox does not update {kind.name} objects through the API")
        fields = self._clean(kind, body)
        if body.get("sparse") is True:
            fields = {**writable(current), **fields}
        fields = self._validate(kind, fields, current)
        return self.render(kind, self.company.replace(kind.name, current["Id"], fields))

    def delete(self, kind: Kind, body: Any) -> Record:
        if not kind.deletable:
            raise business(f"{kind.name} objects cannot be deleted: make them inactive (Active: false)")
        current = self._current(kind, body)
        self.company.delete(kind.name, current["Id"])
        return {"status": "Deleted", "domain": "QBO", "Id": current["Id"]}

    def _current(self, kind: Kind, body: Any) -> Record:
        if not isinstance(body, dict):
            raise business(f"the request body must be a {kind.name} object")
        record_id, token = body.get("Id"), body.get("SyncToken")
        if record_id in (None, ""):
            raise required("Id")
        current = self.company.get(kind.name, record_id)
        if current is None:
            raise object_not_found(kind.name, record_id)
        if token in (None, ""):
            raise required("SyncToken")
        if str(token) != current["SyncToken"]:
            raise stale(token, current["SyncToken"])
        return current

    # -- properties -------------------------------------------------------------------------------
    def _clean(self, kind: Kind, body: Any) -> Record:
        """The body's writable properties with their types checked; null means absent."""
        if not isinstance(body, dict):
            raise business(f"the request body must be a {kind.name} object")
        out: Record = {}
        for name, value in body.items():
            if name in READ_ONLY or value is None:
                continue
            if name not in kind.fields:
                raise business(f"Property {name} is not a writable property of {kind.name}", name)
            out[name] = typed(name, value)
        return out

    def _ref(self, fields: Record, name: str, required_active: bool = True) -> Record | None:
        ref = fields.get(name)
        if ref is None:
            return None
        target = REF_TARGETS[name]
        found = self.company.get(target, ref["value"], self.cutoff) if target in BY_NAME else None
        if found is None or (required_active and found.get("Active") is False):
            raise invalid_ref(name, ref["value"], target)
        fields[name] = {"value": ref["value"]}  # a client's `name` is not stored: it is rendered
        return found

    def _validate(self, kind: Kind, fields: Record, current: Record | None) -> Record:
        check: Callable[[Record, Record | None], None] = getattr(self, f"_check_{kind.name.lower()}")
        check(fields, current)
        return fields

    # -- name-list entities -----------------------------------------------------------------------
    def _display_name(self, kind: Kind, fields: Record, current: Record | None) -> None:
        parts = [fields.get(k) for k in ("GivenName", "MiddleName", "FamilyName")]
        derived = (
            " ".join(p.strip() for p in parts if p and p.strip()) or (fields.get("CompanyName") or "").strip()
        )
        name = (fields.get("DisplayName") or "").strip() or derived
        if not name:
            raise required("DisplayName")
        if ":" in name and kind.name == "Customer":
            raise business(
                "DisplayName may not contain ':' (it separates FullyQualifiedName parts)", "DisplayName"
            )
        fields["DisplayName"] = name
        fields.setdefault("Active", True)
        kinds = [k for k in KINDS if k.name_list] if self.options.unique_names_across_types else [kind]
        own = current["Id"] if current else None
        for other in kinds:
            for record in self.company.all(other.name):
                same = other is kind and record["Id"] == own
                if not same and record["DisplayName"].casefold() == name.casefold():
                    raise duplicate_name(other.name)

    def _check_employee(self, fields: Record, current: Record | None) -> None:
        self._display_name(BY_NAME["Employee"], fields, current)
        fields.setdefault("PrintOnCheckName", fields["DisplayName"])
        fields.setdefault("BillableTime", False)

    def _check_vendor(self, fields: Record, current: Record | None) -> None:
        self._display_name(BY_NAME["Vendor"], fields, current)
        fields.setdefault("PrintOnCheckName", fields["DisplayName"])

    def _check_customer(self, fields: Record, current: Record | None) -> None:
        self._display_name(BY_NAME["Customer"], fields, current)
        parent = self._ref(fields, "ParentRef")
        if "Job" in fields and fields["Job"] != (parent is not None):
            raise business("Job is true exactly when ParentRef names the parent customer", "Job")
        fields["Job"] = parent is not None
        if parent is None:
            return
        if current is not None and current["Id"] in self._ancestors(parent):
            raise business("ParentRef would make the customer its own ancestor", "ParentRef")
        if len(self._ancestors(parent)) > MAX_LEVEL:  # the new customer's Level
            raise business(f"sub-customers nest at most {MAX_LEVEL} levels deep", "ParentRef")

    def _check_item(self, fields: Record, current: Record | None) -> None:
        name = (fields.get("Name") or "").strip()
        if not name:
            raise required("Name")
        if ":" in name:
            raise business("Name may not contain ':'", "Name")
        fields["Name"] = name
        if "Type" not in fields:
            raise required("Type")
        if fields["Type"] not in ITEM_TYPES:
            raise invalid_enum("Type", fields["Type"])
        if fields["Type"] not in ("Service", "NonInventory"):
            raise business(
                f"the sandbox keeps Service and NonInventory items only, not {fields['Type']}", "Type"
            )
        if fields.get("ParentRef") or fields.get("SubItem"):
            raise business("the sandbox does not keep sub-items", "ParentRef")
        if "IncomeAccountRef" not in fields:
            raise required("IncomeAccountRef")
        for ref in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"):
            self._ref(fields, ref)
        fields.setdefault("Active", True)
        own = current["Id"] if current else None
        for record in self.company.all("Item"):
            if record["Id"] != own and record["Name"].casefold() == name.casefold():
                raise ApiError(400, "6240", "Duplicate Name Exists Error",
                               "The name supplied already exists: Another item is already using this name."
                               " Please use a different name.", "Name")  # fmt: skip

    def _check_account(self, fields: Record, current: Record | None) -> None:
        if not (fields.get("Name") or "").strip():
            raise required("Name")
        fields.setdefault("Active", True)

    # -- TimeActivity -----------------------------------------------------------------------------
    def _check_timeactivity(self, fields: Record, current: Record | None) -> None:
        name_of = fields.get("NameOf")
        if name_of is None:
            raise required("NameOf")
        if name_of not in NAME_OF:
            raise invalid_enum("NameOf", name_of)
        own, other = ("EmployeeRef", "VendorRef") if name_of == "Employee" else ("VendorRef", "EmployeeRef")
        if own not in fields:
            raise required(own)
        if other in fields:
            raise business(f"{other} cannot be given when NameOf is {name_of}", other)
        for ref in ("EmployeeRef", "VendorRef", "CustomerRef", "ItemRef", "ClassRef", "DepartmentRef"):
            item = self._ref(fields, ref)
            if ref == "ItemRef" and item is not None and item.get("Type") != "Service":
                raise invalid_ref(ref, fields[ref]["value"], "Service item")
        status = fields.setdefault("BillableStatus", "NotBillable")
        if status not in BILLABLE:
            raise invalid_enum("BillableStatus", status)
        if status == "Billable" and "CustomerRef" not in fields:
            raise required("CustomerRef")
        if status == "Billable" and self.options.require_rate_when_billable and "HourlyRate" not in fields:
            raise required("HourlyRate")
        for name in ("HourlyRate", "CostRate"):
            if fields.get(name, 0) < 0:
                raise business(f"{name} cannot be negative", name)
        self._duration(fields)
        fields.setdefault("TxnDate", today())
        fields.setdefault("Taxable", False)
        fields.setdefault("HourlyRate", 0)
        if len(fields.get("Description", "")) > self.options.max_description:
            raise business(
                f"Description is longer than {self.options.max_description} characters", "Description"
            )

    def _duration(self, fields: Record) -> None:
        clock = [k for k in ("Hours", "Minutes") if k in fields]
        span = [k for k in ("StartTime", "EndTime") if k in fields]
        if clock and span:
            raise business("give either Hours/Minutes or StartTime/EndTime, not both", span[0])
        for name in ("Hours", "Minutes", "BreakHours", "BreakMinutes"):
            if fields.get(name, 0) < 0:
                raise business(f"{name} cannot be negative", name)
        for name in ("Minutes", "BreakMinutes"):
            if fields.get(name, 0) > 59:
                raise business(f"{name} must be between 0 and 59", name)
        brk = fields.get("BreakHours", 0) * 60 + fields.get("BreakMinutes", 0)
        if span:
            for name in ("StartTime", "EndTime"):
                if name not in fields:
                    raise required(name)
            minutes = (
                parse_datetime(fields["EndTime"]) - parse_datetime(fields["StartTime"])
            ).total_seconds() / 60
            if minutes <= 0:
                raise business("EndTime must be later than StartTime", "EndTime")
            minutes -= brk
            if minutes < 0:
                raise business("the break is longer than the time worked", "BreakHours")
        elif clock:
            fields.setdefault("Hours", 0)
            fields.setdefault("Minutes", 0)
            minutes = fields["Hours"] * 60 + fields["Minutes"]
        else:
            raise required("Hours")
        if minutes > self.options.max_entry_minutes:
            limit = divmod(self.options.max_entry_minutes, 60)
            raise business(f"a time activity lasts at most {limit[0]} hours {limit[1]} minutes", span[-1] if span else "Hours")  # fmt: skip

    # -- rendering --------------------------------------------------------------------------------
    def _ancestors(self, customer: Record) -> list[str]:
        """Ids from `customer` up to its top-level customer (stops on a loop left by admin edits)."""
        chain: list[str] = []
        node: Record | None = customer
        while node is not None and node["Id"] not in chain:
            chain.append(node["Id"])
            parent = node.get("ParentRef")
            node = self.company.get("Customer", parent["value"]) if parent else None
        return chain

    def render(self, kind: Kind, record: Record) -> Record:
        """The wire form: ref names filled, FullyQualifiedName/Level computed, `domain`, `sparse`."""
        out = public(record)
        for name, value in record.items():
            target = REF_TARGETS.get(name)
            found = (
                self.company.get(target, value["value"])
                if target in BY_NAME and name != "ParentRef"
                else None
            )
            if found is not None:
                label = found.get("FullyQualifiedName") or self._fqn(target or "", found)
                out[name] = {"value": value["value"], "name": label}
        if kind.name in ("Customer", "Item", "Account"):
            out["FullyQualifiedName"] = self._fqn(kind.name, record)
        if kind.name == "Customer":
            out["Level"] = len(self._ancestors(record)) - 1
        out.update(domain="QBO", sparse=False)
        return out

    def _fqn(self, entity: str, record: Record) -> str:
        if entity == "Customer":
            names = [
                self.company.records["Customer"][i]["DisplayName"] for i in reversed(self._ancestors(record))
            ]
            return ":".join(names)
        return str(record.get("DisplayName") or record.get("Name") or "")
