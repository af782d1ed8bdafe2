"""The fresh company a QuickBooks sandbox starts with: the synthetic agency's names, ready to be matched.

QuickBooks is a destination, so nothing here is time data: the company holds what a bookkeeper would
have set up before the first sync (reference §9: users match Employee DisplayName, clients match
customers, projects match sub-customers):

- Accounts 1 "Services" (Income), 2 "Sales of Product Income", 3 "Cost of Goods Sold".
- Items 1 "Services" and 2 "Hours" (Service, income account 1), then one Service item per agency
  service, with its hourly rate as `UnitPrice`.
- Customers: one per agency client (the archived one inactive), each project a sub-customer (job) of
  its client. DisplayName is unique across all customers, so a project name already used by another
  client's job is stored as "<project> (<client>)" (its FullyQualifiedName then shows that name).
- Employees: one per person (DisplayName = the person's name; people who left are inactive).
- Vendors: two contractors, "Kranich Design Studio" and "Mara Vogel".

With `QuickBooksOptions(seed=False)` the company holds only the three accounts.
"""

from __future__ import annotations

from datetime import datetime, time

from sandbox.org import Org
from sandbox.quickbooks.params import COMPANY_TZ, stamp
from sandbox.quickbooks.store import Company, Record

ACCOUNTS = (("Services", "Income", "ServiceFeeIncome"),
            ("Sales of Product Income", "Income", "SalesOfProductIncome"),
            ("Cost of Goods Sold", "CostofGoodsSold", "SuppliesMaterialsCogs"))  # fmt: skip
VENDORS = (
    {"DisplayName": "Kranich Design Studio", "CompanyName": "Kranich Design Studio", "BillRate": 90},
    {
        "DisplayName": "Mara Vogel",
        "GivenName": "Mara",
        "FamilyName": "Vogel",
        "BillRate": 80,
        "Vendor1099": True,
    },
)


def seed(company: Company, org: Org, with_names: bool = True) -> None:
    """Fill an empty company (ids 1, 2, 3... in the order above, per id sequence)."""
    at = stamp(datetime.combine(org.first_day, time(9), COMPANY_TZ))
    for name, kind, sub in ACCOUNTS:
        company.insert(
            "Account", {"Name": name, "AccountType": kind, "AccountSubType": sub, "Active": True}, at=at
        )
    if not with_names:
        return
    income = {"value": "1"}
    items: list[Record] = [
        {"Name": "Services", "Type": "Service", "UnitPrice": 0},
        {"Name": "Hours", "Type": "Service", "UnitPrice": 0},
    ]
    items += [{"Name": s.name, "Type": "Service", "UnitPrice": s.hourly_rate, "Description": s.note}
              for s in org.services]  # fmt: skip
    for item in items:
        fields = {k: v for k, v in item.items() if v is not None}
        company.insert(
            "Item", {**fields, "Active": True, "Taxable": False, "IncomeAccountRef": income}, at=at
        )
    used: set[str] = set()
    for client in org.clients:
        parent = company.insert(
            "Customer",
            {"DisplayName": client.name, "CompanyName": client.name, "Active": client.active, "Job": False},
            at=at,
        )
        used.add(client.name.casefold())
        for project in (p for p in org.projects if p.client_id == client.id):
            name = project.name if project.name.casefold() not in used else f"{project.name} ({client.name})"
            used.add(name.casefold())
            fields = {"DisplayName": name, "Active": client.active, "Job": True, "BillWithParent": True,
                      "ParentRef": {"value": parent["Id"]}}  # fmt: skip
            company.insert("Customer", fields, at=at)
    for person in org.people:
        given, _, family = person.name.partition(" ")
        active = person.exit_date is None or person.exit_date > org.anchor
        fields = {"GivenName": given, "FamilyName": family, "DisplayName": person.name,
                  "PrintOnCheckName": person.name, "Active": active, "BillableTime": True,
                  "EmployeeNumber": person.number, "PrimaryEmailAddr": {"Address": person.email},
                  "HiredDate": person.start_date.isoformat()}  # fmt: skip
        if person.exit_date is not None and not active:
            fields["ReleasedDate"] = person.exit_date.isoformat()
        company.insert("Employee", fields, at=at)
    for vendor in VENDORS:
        company.insert("Vendor", {**vendor, "PrintOnCheckName": vendor["DisplayName"], "Active": True}, at=at)
