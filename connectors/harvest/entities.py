"""Harvest's entities, as data (facts: ../shared/reference/harvest.md).

Lists answer ``{<key>: [...], ..., links: {next}}``; couplet asks for 2000 a page and follows
``links.next`` verbatim until it is null. Dimensions support ``updated_since``: each run asks only
for what changed since the newest ``updated_at`` staged and merges it by id. Deletions leave no
trace there, so each such run also reads ``total_entries`` of the whole list at one record a page
(one request) and reads everything at once when the staged records are not as many (and a full
read every week anyway). No list hides inactive records: ``is_active`` filters only when sent
(reference §4); couplet never sends it and keeps the flag as a column. Time entries and expenses
are facts windowed on ``spent_date`` (``from``/``to``, both inclusive); reports are aggregates over
windows of one year at most.
"""

from __future__ import annotations

from connectors.core.describe import describe_columns
from connectors.core.entity import (
    BODY,
    Drift,
    Entity,
    FanOut,
    Figure,
    Incremental,
    Paging,
    PagingKind,
    Partitioning,
    Probe,
    Totals,
    Window,
    cols,
)

from .descriptions import DESCRIPTIONS
from .quirks import explode_line_items

PAGED = Paging(PagingKind.NEXT_LINK, size_param="per_page", size=2000, next_path="links.next")
# Every list carries total_entries (reference §2): a one-record page counts a dimension, deletions included.
CHANGES = Incremental(param="updated_since", field="updated_at", count_path="total_entries")
STAMPS = "created_at:datetime updated_at:datetime"


def ref(name: str, *fields: str) -> str:
    """Columns of an embedded reference object: ``user`` -> ``user_id user_name``."""
    return " ".join(f"{name}_{f}:{'int' if f == 'id' else 'str'}={name}.{f}" for f in fields)


def spent_date_window() -> Window:
    return Window(
        Partitioning.DAILY,
        since_param="from",
        until_param="to",
        inclusive_end=True,  # "on or before the given date"
        max_days=31,
        partition_field="spent_date",
    )


def fact_drift(totals: Totals | None = None) -> Drift:
    """Drift beyond the look-back (pipelines/reconcile.py): ``updated_since`` with ``from``/``to``
    returns every record edited or inserted since a time, however old its spent_date (reference §3,
    §4.1, §4.14); deletions leave no trace there, so ``total_entries`` of a one-record page (§2,
    ``per_page`` 1-2000) counts a window, any range at once. ``totals``: see ``team_hours``."""
    return Drift(
        probe=Probe((Figure("count", "total_entries"),), params={"per_page": 1}),
        changes=Incremental(param="updated_since", field="updated_at"),
        totals=totals,
    )


def team_hours(team_report: Entity) -> Totals:
    """Where deletions make a count differ: the team time report (§4.17, ``from``/``to`` of at most
    a year, one row per user and currency) gives each user's ``total_hours``, which count rounded
    hours when the account rounds (the sandbox's HDOCS note), so staged ``rounded_hours`` per user
    are compared; a user whose hours differ is re-read alone with ``user_id`` (§4.1). The report
    rounds to hundredths: a difference up to 0.011 h is taken as equal."""
    return Totals(
        team_report,
        series_field="user_id",
        value_field="total_hours",
        column="rounded_hours",
        series_column="user_id",
        filter_param="user_id",
        max_days=365,
    )


def report_window() -> Window:
    # Reports take YYYYMMDD bounds and at most a year: one calendar year a request.
    return Window(
        Partitioning.YEARLY, since_param="from", until_param="to", format="%Y%m%d", inclusive_end=True
    )


def dimension(name: str, path: str, spec: str, description: str, **kw) -> Entity:
    return Entity(
        name,
        path,
        cols(spec + " " + STAMPS),
        envelope=name,
        paging=PAGED,
        incremental=CHANGES,
        description=description,
        **kw,
    )


def elsewhere(obj: str, keys: str, entity: str) -> dict[str, str]:
    """``Entity.not_kept`` for the keys of an embedded assignment (reference §4.1, §4.14) beside its
    id: the same record is staged whole by ``entity``, joined on ``<obj>_id``."""
    return {f"{obj}.{k}": f"in {entity} (join on {obj}_id)" for k in keys.split()}


USER_ASSIGNMENT = "is_project_manager is_active use_default_rates budget created_at updated_at hourly_rate"
TASK_ASSIGNMENT = "billable is_active created_at updated_at hourly_rate budget"


def report(name: str, path: str, spec: str, key: tuple[str, ...], description: str) -> Entity:
    return Entity(
        name,
        path,
        cols(spec),
        envelope="results",
        paging=PAGED,
        window=report_window(),
        primary_key=(*key, "_window_start"),  # one row per dimension and year
        rate_group="reports",
        description=description,
    )


REPORT_MONEY = "total_hours:float billable_hours:float currency:str billable_amount:float"

TEAM_REPORT = report(
    "report_time_team",
    "/v2/reports/time/team",
    "user_id:int! user_name:str is_contractor:bool weekly_capacity:int avatar_url:str " + REPORT_MONEY,
    ("user_id", "currency"),
    "Hours and billable amounts per person and year.",
)

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "time_entries",
        "/v2/time_entries",
        cols(
            "id:int! spent_date:date "
            + ref("user", "id", "name")
            + " "
            + ref("client", "id", "name", "currency")
            + " "
            + ref("project", "id", "name", "code")
            + " "
            + ref("task", "id", "name")
            + " user_assignment_id:int=user_assignment.id task_assignment_id:int=task_assignment.id "
            "invoice_id:int=invoice.id invoice_number:str=invoice.number external_reference:json hours:float "
            "hours_without_timer:float rounded_hours:float notes:str is_locked:bool locked_reason:str "
            "is_closed:bool is_billed:bool timer_started_at:datetime started_time:str ended_time:str "
            "is_running:bool billable:bool budgeted:bool billable_rate:float cost_rate:float " + STAMPS
        ),
        envelope="time_entries",
        paging=PAGED,
        window=spent_date_window(),
        drift=fact_drift(team_hours(TEAM_REPORT)),
        not_kept={
            **elsewhere("user_assignment", USER_ASSIGNMENT, "user_assignments"),
            **elsewhere("task_assignment", TASK_ASSIGNMENT, "task_assignments"),
        },
        description="Time entries by spent_date (from/to, windows of at most 31 days).",
    ),
    dimension(
        "clients",
        "/v2/clients",
        "id:int! name:str is_active:bool address:str statement_key:str currency:str",
        "Clients.",
    ),
    dimension(
        "contacts",
        "/v2/contacts",
        "id:int! " + ref("client", "id", "name") + " title:str first_name:str last_name:str email:str "
        "phone_office:str phone_mobile:str fax:str",
        "Client contacts.",
    ),
    dimension(
        "projects",
        "/v2/projects",
        "id:int! "
        + ref("client", "id", "name", "currency")
        + " name:str code:str is_active:bool is_billable:bool "
        "is_fixed_fee:bool bill_by:str hourly_rate:float budget:float budget_by:str budget_is_monthly:bool "
        "notify_when_over_budget:bool over_budget_notification_percentage:float "
        "over_budget_notification_date:date show_budget_to_all:bool cost_budget:float "
        "cost_budget_include_expenses:bool fee:float notes:str starts_on:date ends_on:date",
        "Projects with budgets and rates.",
    ),
    dimension(
        "tasks",
        "/v2/tasks",
        "id:int! name:str billable_by_default:bool default_hourly_rate:float is_default:bool is_active:bool",
        "Tasks.",
    ),
    dimension(
        "task_assignments",
        "/v2/task_assignments",
        "id:int! "
        + ref("project", "id", "name", "code")
        + " "
        + ref("task", "id", "name")
        + " is_active:bool billable:bool hourly_rate:float budget:float",
        "Which tasks each project uses, with rates.",
    ),
    dimension(
        "user_assignments",
        "/v2/user_assignments",
        "id:int! "
        + ref("project", "id", "name", "code")
        + " "
        + ref("user", "id", "name")
        + " is_active:bool is_project_manager:bool use_default_rates:bool hourly_rate:float budget:float",
        "Who works on each project, with rates.",
    ),
    dimension(
        "users",
        "/v2/users",
        "id:int! first_name:str last_name:str email:str telephone:str timezone:str "
        "has_access_to_all_future_projects:bool is_contractor:bool is_active:bool weekly_capacity:int "
        "default_hourly_rate:float cost_rate:float roles:json access_roles:json avatar_url:str",
        "People, with their roles (a list) and cost rates.",
    ),
    Entity(
        "roles",
        "/v2/roles",
        cols("id:int! name:str user_ids:json " + STAMPS),
        envelope="roles",
        paging=PAGED,  # no updated_since on roles: a tiny table, read whole
        description="Roles and the people who have them.",
    ),
    dimension(
        "invoices",
        "/v2/invoices",
        "id:int! "
        + ref("client", "id", "name")
        + " estimate_id:int=estimate.id retainer_id:int=retainer.id "
        + ref("creator", "id", "name")
        + " client_key:str number:str purchase_order:str amount:float "
        "due_amount:float tax:float tax_amount:float tax2:float tax2_amount:float discount:float "
        "discount_amount:float subject:str notes:str currency:str state:str period_start:date period_end:date "
        "issue_date:date due_date:date payment_term:str payment_options:json sent_at:datetime paid_at:datetime "
        "closed_at:datetime paid_date:date recurring_invoice_id:int",
        "Invoices (line items are their own entity).",
        not_kept={"line_items": "in invoice_line_items, one row per line item"},
    ),
    Entity(
        "invoice_line_items",
        "/v2/invoices",
        cols(
            "id:int! invoice_id:int "
            + ref("project", "id", "name", "code")
            + " kind:str description:str quantity:float unit_price:float amount:float taxed:bool taxed2:bool"
        ),
        envelope="invoices",
        paging=PAGED,
        hook=explode_line_items,
        description="Invoice line items, taken from the invoices' embedded line_items (no endpoint of their own).",
    ),
    Entity(
        "invoice_payments",
        "/v2/invoices/{invoice_id}/payments",
        cols(
            "id:int! invoice_id:int amount:float paid_at:datetime paid_date:date recorded_by:str "
            "recorded_by_email:str notes:str transaction_id:str "
            + ref("payment_gateway", "id", "name")
            + " "
            + STAMPS
        ),
        envelope="invoice_payments",
        paging=PAGED,
        fan_out=FanOut(parent="invoices", target="invoice_id", inject_as="invoice_id"),
        description="Payments of every invoice (one request series per invoice).",
    ),
    Entity(
        "invoice_messages",
        "/v2/invoices/{invoice_id}/messages",
        cols(
            "id:int! invoice_id:int sent_by:str sent_by_email:str sent_from:str sent_from_email:str recipients:json "
            "subject:str body:str include_link_to_client_invoice:bool attach_pdf:bool send_me_a_copy:bool "
            "thank_you:bool event_type:str reminder:bool send_reminder_on:date " + STAMPS
        ),
        envelope="invoice_messages",
        paging=PAGED,
        fan_out=FanOut(parent="invoices", target="invoice_id", inject_as="invoice_id"),
        description="Messages sent about every invoice (one request series per invoice).",
    ),
    dimension(
        "invoice_item_categories",
        "/v2/invoice_item_categories",
        "id:int! name:str use_as_service:bool use_as_expense:bool",
        "Invoice item categories.",
    ),
    dimension(
        "estimates",
        "/v2/estimates",
        "id:int! "
        + ref("client", "id", "name")
        + " "
        + ref("creator", "id", "name")
        + " line_items:json client_key:str number:str purchase_order:str amount:float tax:float tax_amount:float "
        "tax2:float tax2_amount:float discount:float discount_amount:float subject:str notes:str currency:str "
        "state:str issue_date:date sent_at:datetime accepted_at:datetime declined_at:datetime",
        "Estimates.",
    ),
    Entity(
        "estimate_messages",
        "/v2/estimates/{estimate_id}/messages",
        cols(
            "id:int! estimate_id:int sent_by:str sent_by_email:str sent_from:str sent_from_email:str recipients:json "
            "subject:str body:str send_me_a_copy:bool event_type:str " + STAMPS
        ),
        envelope="estimate_messages",
        paging=PAGED,
        fan_out=FanOut(parent="estimates", target="estimate_id", inject_as="estimate_id"),
        description="Messages sent about every estimate (one request series per estimate).",
    ),
    dimension(
        "estimate_item_categories",
        "/v2/estimate_item_categories",
        "id:int! name:str",
        "Estimate item categories.",
    ),
    Entity(
        "expenses",
        "/v2/expenses",
        cols(
            "id:int! spent_date:date "
            + ref("client", "id", "name", "currency")
            + " "
            + ref("project", "id", "name", "code")
            + " "
            + ref("expense_category", "id", "name", "unit_name")
            + " expense_category_unit_price:float=expense_category.unit_price "
            + ref("user", "id", "name")
            + " user_assignment_id:int=user_assignment.id receipt:json invoice_id:int=invoice.id "
            "invoice_number:str=invoice.number notes:str units:float total_cost:float billable:bool is_closed:bool "
            "is_locked:bool is_billed:bool locked_reason:str " + STAMPS
        ),
        envelope="expenses",
        paging=PAGED,
        window=spent_date_window(),
        drift=fact_drift(),
        not_kept=elsewhere("user_assignment", USER_ASSIGNMENT, "user_assignments"),
        description="Expenses by spent_date (from/to).",
    ),
    dimension(
        "expense_categories",
        "/v2/expense_categories",
        "id:int! name:str unit_name:str unit_price:float is_active:bool",
        "Expense categories.",
    ),
    Entity(
        "company",
        "/v2/company",
        cols(
            "full_domain:str! base_uri:str name:str is_active:bool week_start_day:str wants_timestamp_timers:bool "
            "time_format:str date_format:str plan_type:str clock:str currency:str currency_code_display:str "
            "currency_symbol_display:str decimal_symbol:str thousands_separator:str color_scheme:str "
            "weekly_capacity:int expense_feature:bool invoice_feature:bool estimate_feature:bool "
            "approval_feature:bool team_feature:bool"
        ),
        envelope=BODY,
        body_keys=("name",),
        primary_key=("full_domain",),
        description="The account's company settings and enabled features (one object).",
    ),
    report(
        "report_time_clients",
        "/v2/reports/time/clients",
        "client_id:int! client_name:str " + REPORT_MONEY,
        ("client_id", "currency"),
        "Hours and billable amounts per client and year (time report, windows of one year).",
    ),
    report(
        "report_time_projects",
        "/v2/reports/time/projects",
        "project_id:int! project_name:str client_id:int client_name:str " + REPORT_MONEY,
        ("project_id", "currency"),
        "Hours and billable amounts per project and year.",
    ),
    report(
        "report_time_tasks",
        "/v2/reports/time/tasks",
        "task_id:int! task_name:str " + REPORT_MONEY,
        ("task_id", "currency"),
        "Hours and billable amounts per task and year.",
    ),
    TEAM_REPORT,
    report(
        "report_uninvoiced",
        "/v2/reports/uninvoiced",
        "client_id:int client_name:str project_id:int! project_name:str currency:str total_hours:float "
        "uninvoiced_hours:float uninvoiced_expenses:float uninvoiced_amount:float",
        ("project_id", "currency"),
        "Uninvoiced hours, expenses and amounts per project and year.",
    ),
)

ENTITIES = describe_columns(ENTITIES, DESCRIPTIONS)
