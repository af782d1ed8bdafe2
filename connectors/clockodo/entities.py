"""Clockodo's seventeen entities, as data.

Paths, envelope keys, page sizes and fields follow ../shared/reference/clockodo.md (Clockodo's
OpenAPI document of 2026-08-24 and live-tested clients); each entity uses the current API version.
Columns keep the API's field names; nested objects become flat ``parent_child`` columns, lists and
deep structures stay JSON text. Fields that only users with rights see are nullable like all others.
"""

from __future__ import annotations

import datetime as dt

from connectors.core.describe import describe_columns
from connectors.core.entity import (
    BODY,
    Drift,
    Entity,
    FanOut,
    Figure,
    Fingerprint,
    Paging,
    PagingKind,
    Partitioning,
    Probe,
    Sizing,
    Window,
    cols,
)

from .descriptions import DESCRIPTIONS
from .quirks import entry_flags, flatten_access


# Clockodo's pages: ask for the largest page the endpoint allows; the first page says how many follow.
def paged(size: int) -> Paging:
    return Paging(
        PagingKind.PAGE_COUNT,
        page_param="page",
        size_param="items_per_page",
        size=size,
        count_path="paging.count_pages",
        current_path="paging.current_page",
        count_optional=True,
    )


# Endpoints documented as unpaged, or paged without a page-size parameter (/v2/workTimes): ask for
# page 1 (unknown parameters are ignored) and follow ``paging`` if the answer has it, so a server
# that does page them never loses records.
PAGED_NO_SIZE = Paging(
    PagingKind.PAGE_COUNT,
    page_param="page",
    count_path="paging.count_pages",
    current_path="paging.current_page",
    count_optional=True,
)

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


def yearly(param: str, partition_field: str, inject_year_as: str = "") -> Window:
    return Window(
        Partitioning.YEARLY, year_param=param, partition_field=partition_field, inject_year_as=inject_year_as
    )


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PER_USER = FanOut(parent="users", target="users_id", inject_as="users_id")

_SURCHARGE_KINDS = ("night", "night_increased", "nonbusiness", "nonbusiness_special", "sunday", "saturday")
_SURCHARGE_COLS = " ".join(
    f"{k}_percent:int={k}.percent {k}_time_since:str={k}.time_since {k}_time_until:str={k}.time_until"
    + (
        ""
        if k.startswith("night")
        else f" {k}_time_since_is_previous_day:bool={k}.time_since_is_previous_day"
        f" {k}_time_until_is_next_day:bool={k}.time_until_is_next_day"
    )
    for k in _SURCHARGE_KINDS
)
_ABSENCE_KINDS = [
    "regular_holidays",
    "sick_self",
    "sick_child",
    "special_leaves",
    "school",
    "maternity_protection",
    "home_office",
    "out_of_office",
    "quarantine",
    "military_service",
]
_REPORT_SURCHARGES = ["saturday", "sunday", "nonbusiness", "nonbusiness_special", "night", "night_increased"]

USER_REPORTS = Entity(
    "user_reports",
    "/userreports",
    envelope="userreports",
    paging=PAGED_NO_SIZE,
    primary_key=("users_id", "year"),
    params={"type": 1},  # 1 = the year plus its months (month_details)
    window=yearly("year", "year", inject_year_as="year"),
    columns=cols(
        "users_id:int! year:int! users_name:str users_number:str users_email:str sum_target:float "
        "sum_hours:float sum_reduction_used:float sum_reduction_planned:float overtime_carryover:float "
        "overtime_reduced:float diff:float holidays_quota:float holidays_carry:float workdays:float "
        + " ".join(f"absence_{k}:float=sum_absence.{k}" for k in _ABSENCE_KINDS)
        + " "
        + " ".join(f"surcharge_{k}:float=surcharges.{k}" for k in _REPORT_SURCHARGES)
        + " month_details:json"
    ),
    description="Yearly report per user: target vs worked hours, overtime, holidays, absences (GET /userreports?year=&type=1).",
)

# Drift beyond the look-back (pipelines/reconcile.py, reconcile_days.py). Entries have no "changed
# since" filter (§3.1), but /userreports (§3.16: unversioned, no paging, every user of a whole year
# in one request, global quota only, §1.6) with type=3 gives each user's booked time per day
# (day_details[].hours; "past years change when entries are edited"): one request per calendar
# year is compared with the staged durations per users_id and day. The reference gives durations and
# user-report sums in seconds (§2) and does not give the day's unit apart: seconds. Report days are
# in the user's local calendar (§4.2), so staged entries are placed on the local date of time_since
# in users.timezone (one /v3/users page); which day an entry crossing midnight counts on is not
# stated: the day it starts. What carries no duration (lump sums, running entries) and what an edit
# leaves summed the same stays for paging.count_items of a one-item page (§1.8, without the
# enhanced list and its 300 / 15 min quota, §1.6), over the whole range at once.
ENTRY_DRIFT = Drift(
    Probe(
        (Figure("count", "paging.count_items"),),
        params={"items_per_page": 1, "enhanced_list": 0},
        in_rate_group=False,
        max_days=0,
    ),
    fingerprint=Fingerprint(
        USER_REPORTS,
        column="duration",
        series_column="users_id",
        time_column="time_since",
        series_field="users_id",
        days="month_details.*.week_details.*.day_details.*",
        params={"type": 3},
        zones="users",
        filter_param="filter[users_id]",
    ),
)

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "entries",
        "/v2/entries",
        envelope="entries",
        paging=paged(1000),
        window=Window(
            Partitioning.DAILY,
            since_param="time_since",
            until_param="time_until",
            format=ISO_UTC,
            max_days=31,
            partition_field="time_since",
            # Any range with paging: probe a range's size with one item and no enhanced list (the
            # general quota, not the 300/15 min of enhanced_list), split only where it is dense.
            sizing=Sizing("paging.count_items", {"items_per_page": 1, "enhanced_list": 0}, False),
        ),
        drift=ENTRY_DRIFT,
        params={"enhanced_list": 1},
        rate_group="entries_enhanced_list",
        hook=entry_flags,
        columns=cols(
            "id:int! type:int customers_id:int projects_id:int subprojects_id:int users_id:int services_id:int "
            "lumpsum_services_id:int billable:int is_billable:bool is_billed:bool texts_id:int text:str "
            "time_since:datetime time_until:datetime duration:int offset:int time_insert:datetime "
            "time_last_change:datetime time_last_change_work_time:datetime time_clocked_since:datetime "
            "clocked:bool clocked_offline:bool hourly_rate:float revenue:float lumpsum:float "
            "lumpsum_services_amount:float lumpsum_services_price:float customers_name:str projects_name:str "
            "subprojects_name:str users_name:str services_name:str test_data:bool"
        ),
        sometimes={  # reference §3.1
            "offset": "only where the duration differs from time_until - time_since",
            "hourly_rate": "only with the rights to see rates",
            "revenue": "only with the rights to see rates",
            "lumpsum": "lump-sum value entries (type 2) only",
            "lumpsum_services_id": "lump-sum service entries (type 3) only",
            "lumpsum_services_amount": "lump-sum service entries (type 3) only",
            "lumpsum_services_price": "lump-sum service entries (type 3) only",
        },
        description="Time and lump-sum entries (GET /v2/entries, enhanced list), partitioned by the UTC day of time_since.",
    ),
    Entity(
        "projects",
        "/v4/projects",
        envelope="data",
        paging=paged(5000),
        columns=cols(
            "id:int! customers_id:int name:str number:str active:bool billable_default:bool note:str "
            "billed_money:float billed_completely:bool completed:bool completed_at:datetime revenue_factor:float "
            "deadline:date start_date:date automatic_completion:bool count_subprojects:int "
            "budget_monetary:bool=budget.monetary budget_hard:bool=budget.hard "
            "budget_from_subprojects:bool=budget.from_subprojects budget_interval:int=budget.interval "
            "budget_amount:float=budget.amount budget_subprojects_total:float=budget.subprojects_budget_total "
            "budget_notification_thresholds:json=budget.notification_thresholds bill_service_id:str "
            "service_assignments:json test_data:bool"
        ),
        description="Projects with their budgets (GET /v4/projects).",
    ),
    Entity(
        "customers",
        "/v3/customers",
        envelope="data",
        paging=paged(5000),
        columns=cols(
            "id:int! name:str number:str color:int active:bool billable_default:bool note:str "
            "bill_service_id:str service_assignments:json test_data:bool"
        ),
        description="Customers (GET /v3/customers).",
    ),
    Entity(
        "users",
        "/v3/users",
        envelope="data",
        paging=paged(1000),
        columns=cols(
            "id:int! name:str number:str email:str role:str active:bool initials:str language:str timezone:str "
            "teams_id:int boss:int start_date:date exit_date:date future_coworker:bool wage_type:int "
            "work_time_regulations_id:int default_work_time_regulation:bool nonbusiness_groups_id:int "
            "absence_managers_id:json access_groups_ids:json can_generally_see_absences:bool "
            "can_generally_manage_absences:bool can_add_customers:bool default_holidays_count:bool "
            "default_target_hours:bool timeformat_12h:bool weekstart_monday:bool weekend_friday:bool "
            "edit_lock:date edit_lock_dyn:int edit_lock_sync:bool work_time_edit_lock_days:int "
            "budget_notifications:bool exempt_from_flextime:bool creator:int created_at:datetime "
            "bill_service_id:str"
        ),
        not_kept={
            "nonbusinessgroups_id": "deprecated (reference §3.4), nonbusiness_groups_id is kept",
            "worktime_regulation_id": "deprecated (reference §3.4), work_time_regulations_id is kept",
            "support_pin": "a PIN for Clockodo's support, a credential: never staged",
        },
        description="Co-workers (GET /v3/users).",
    ),
    Entity(
        "teams",
        "/v3/teams",
        envelope="data",
        paging=paged(1000),
        columns=cols("id:int! name:str leader:int user_ids:json"),
        description="Teams with their members (GET /v3/teams).",
    ),
    Entity(
        "services",
        "/v4/services",
        envelope="data",
        paging=paged(5000),
        columns=cols("id:int! name:str number:str active:bool note:str bill_service_id:str"),
        description="Services (GET /v4/services).",
    ),
    Entity(
        "absences",
        "/v4/absences",
        envelope="data",
        paging=PAGED_NO_SIZE,
        window=yearly("filter[year]", "date_since"),
        columns=cols(
            "id:int! users_id:int date_since:date date_until:date status:int type:int note:str public_note:str "
            "sick_note:bool count_days:float count_hours:float date_enquired:date date_approved:date approved_by:int"
        ),
        description="Absences per year, placed by the year of date_since (GET /v4/absences?filter[year]=).",
    ),
    Entity(
        "work_times",
        "/v2/workTimes",
        envelope="work_time_days",
        paging=PAGED_NO_SIZE,
        primary_key=("users_id", "date"),
        fan_out=PER_USER,
        # Whether date_until is inclusive is not documented: the engine asks up to the end of the
        # window and drops the days outside it, which is right either way.
        window=Window(
            Partitioning.DAILY,
            since_param="date_since",
            until_param="date_until",
            max_days=92,  # one user per request: small answers, so longer windows save requests
            partition_field="date",
            earliest=dt.date(
                2023, 8, 21
            ),  # "valid data starting on Monday, August 21, 2023" (reference §3.8)
        ),
        columns=cols("users_id:int! date:date! offset:int intervals:json"),
        description="Clocked work-time intervals per user and day (GET /v2/workTimes, one series per user).",
    ),
    Entity(
        "target_hours",
        "/targethours",
        envelope="targethours",
        paging=PAGED_NO_SIZE,
        columns=cols(
            "id:int! users_id:int type:str date_since:date date_until:date surcharge_models_id:int "
            "compensation_monthly:float compensation_daily:float absence_fixed_credit:bool monthly_target:float "
            "monday:float tuesday:float wednesday:float thursday:float friday:float saturday:float sunday:float "
            "workday_monday:bool workday_tuesday:bool workday_wednesday:bool workday_thursday:bool "
            "workday_friday:bool workday_saturday:bool workday_sunday:bool test_data:bool"
        ),
        sometimes={  # reference §3.9: the fields of one type only
            **dict.fromkeys(
                (*WEEKDAYS, "compensation_daily", "absence_fixed_credit"),
                "weekly targets only",
            ),
            **dict.fromkeys(("monthly_target", *(f"workday_{d}" for d in WEEKDAYS)), "monthly targets only"),
        },
        description="Target-hour rules, weekly or monthly, with their validity ranges (GET /targethours).",
    ),
    Entity(
        "overtime_carries",
        "/v3/overtimeCarry",
        envelope="data",
        paging=PAGED_NO_SIZE,
        window=yearly("year", "year"),
        columns=cols("id:int! users_id:int year:int hours:float note:str"),
        description="Overtime carried into a year, per user (GET /v3/overtimeCarry?year=).",
    ),
    Entity(
        "holidays_quota",
        "/v2/holidaysQuota",
        envelope="data",
        paging=PAGED_NO_SIZE,
        columns=cols("id:int! users_id:int year_since:int year_until:int count:float note:str"),
        description="Holiday entitlements per user and range of years (GET /v2/holidaysQuota).",
    ),
    Entity(
        "holidays_carries",
        "/v3/holidaysCarry",
        envelope="data",
        paging=PAGED_NO_SIZE,
        window=yearly("year", "year"),
        columns=cols("id:int! users_id:int year:int count:float note:str"),
        description="Holiday days carried into a year, per user (GET /v3/holidaysCarry?year=).",
    ),
    Entity(
        "non_business_days",
        "/v2/nonbusinessDays",
        envelope="data",
        paging=PAGED_NO_SIZE,
        primary_key=("id", "evaluated_date"),  # recurring holidays keep their id every year
        window=yearly("year", "evaluated_date"),
        columns=cols(
            "id:int! evaluated_date:date! nonbusiness_group_id:int type:str name:str half_day:bool "
            "surcharge_special:bool special_id:int day:int month:int year:int"
        ),
        sometimes={  # reference §3.13
            "special_id": "SPECIAL days only",
            "day": "DISTINCT_ONCE and DISTINCT_RECURRING days only",
            "month": "DISTINCT_ONCE and DISTINCT_RECURRING days only",
            "year": "DISTINCT_ONCE days only",
        },
        description="Public holidays and other non-business days per year (GET /v2/nonbusinessDays?year=).",
    ),
    Entity(
        "lumpsum_services",
        "/v4/lumpSumServices",
        envelope="data",
        paging=paged(5000),
        columns=cols("id:int! name:str number:str price:float unit:str active:bool note:str"),
        description="Lump-sum services (GET /v4/lumpSumServices).",
    ),
    Entity(
        "surcharges",
        "/v2/surchargeModels",
        envelope="data",
        paging=PAGED_NO_SIZE,
        envelope_fallbacks=("surcharges",),
        fallback_paths=("/v2/surcharges",),  # the older documented path, in case the new one is absent
        columns=cols("id:int! name:str accumulation:bool " + _SURCHARGE_COLS),
        description="Surcharge models: night, weekend and holiday percentages (GET /v2/surchargeModels).",
    ),
    USER_REPORTS,
    Entity(
        "customers_projects",
        "/v2/users/{users_id}/access/customers-projects",
        envelope=BODY,
        body_keys=("add", "report", "edit"),
        fan_out=PER_USER,
        primary_key=("users_id", "permission", "customers_id", "projects_id"),
        hook=flatten_access,
        columns=cols("users_id:int! permission:str! scope:str! customers_id:int projects_id:int"),
        description=(
            "Who may add, report and edit which customers and projects: one row per user x permission x "
            "customer x project (GET /v2/users/{id}/access/customers-projects, one request per user)."
        ),
    ),
)

ENTITIES = describe_columns(ENTITIES, DESCRIPTIONS)
