"""What Clockodo's columns mean, as data: entity -> column -> one sentence.

Only what ../shared/reference/clockodo.md documents (units, formats, allowed values, when a field is
present); "*" holds sentences shared by every entity with that column. Applied in ``entities.py``.
Times are UTC; "only with rights" = the API sends the field only to users with access rights.
"""

from __future__ import annotations

_SURCHARGE_KINDS = {
    "night": "night",
    "night_increased": "increased night",
    "nonbusiness": "non-business day",
    "nonbusiness_special": "special non-business day",
    "sunday": "Sunday",
    "saturday": "Saturday",
}
_ABSENCE_KINDS = {
    "regular_holidays": "regular holidays",
    "sick_self": "sickness",
    "sick_child": "sick child",
    "special_leaves": "special leave",
    "school": "school/education",
    "maternity_protection": "maternity protection",
    "home_office": "home office",
    "out_of_office": "out of office",
    "quarantine": "quarantine",
    "military_service": "military service",
}
_RIGHTS_NOTE = "Note; only with rights."
_BILL_SERVICE = "Only sent with rights and the billing add-on."

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "*": {
        "users_id": "ID of the co-worker (users.id).",
        "customers_id": "ID of the customer (customers.id).",
        "active": "Whether the record is active.",
        "test_data": "Whether the record is test data.",
    },
    "entries": {
        "id": "Entry ID.",
        "type": "Kind of entry: 1 time, 2 lump-sum value, 3 lump-sum service.",
        "projects_id": "ID of the project (projects.id); null when the entry is on a customer without a project.",
        "subprojects_id": "ID of the subproject, if any.",
        "services_id": "ID of the service (services.id); time and lump-sum value entries.",
        "lumpsum_services_id": "ID of the lump-sum service (lumpsum_services.id); lump-sum service entries only.",
        "billable": (
            "Billability: 0 not billable, 1 billable, 2 billed, -1 not available (insufficient rights); "
            "lump-sum entries use -1, 1, 2."
        ),
        "is_billable": "Added by couplet: true when billable is 1 or 2; null when billable is -1 or missing.",
        "is_billed": "Added by couplet: true when billable is 2; null when billable is -1 or missing.",
        "texts_id": "ID of the entry's description text (texts are stored for reuse).",
        "text": "Description of the entry (sent only with enhanced_list, which couplet asks for).",
        "time_since": "Start (UTC); entries are partitioned by its UTC day.",
        "time_until": "End (UTC); null while the entry is running; equals time_since for lump-sum entries.",
        "duration": "Duration in seconds (time entries); null while running.",
        "offset": "Present only if duration differs from time_until - time_since (not in the current spec).",
        "time_insert": "When the entry was created (UTC).",
        "time_last_change": "When the entry was last changed (UTC); the API has no filter on it.",
        "time_last_change_work_time": "When the entry's work time was last changed (UTC); time entries only.",
        "time_clocked_since": "Time entries: when the clock was started (UTC), if any.",
        "clocked": "Whether the time entry was recorded with the clock.",
        "clocked_offline": "Whether the time entry was clocked offline.",
        "hourly_rate": "Hourly rate of the time entry; only with rights (and enhanced_list).",
        "revenue": "Revenue of the entry; enhanced_list only and only with rights.",
        "lumpsum": "Lump-sum value (lump-sum value entries, type 2).",
        "lumpsum_services_amount": "Amount of the lump-sum service (type 3 entries).",
        "lumpsum_services_price": "Price of the lump-sum service (type 3 entries; enhanced_list only).",
        "customers_name": "Customer name (enhanced_list only).",
        "projects_name": "Project name, if any (enhanced_list only).",
        "subprojects_name": "Subproject name, if any (enhanced_list only).",
        "users_name": "Co-worker name (enhanced_list only).",
        "services_name": "Service name (enhanced_list only).",
    },
    "projects": {
        "id": "Project ID.",
        "name": "Project name.",
        "number": "Project number, if any.",
        "billable_default": "Whether the project is billable by default.",
        "note": _RIGHTS_NOTE,
        "billed_money": "Money billed; only with rights.",
        "billed_completely": "Whether the project is billed completely; only with rights.",
        "completed": "Whether the project is completed.",
        "completed_at": "When the project was completed (UTC); null unless completed.",
        "revenue_factor": "Revenue factor; only with rights; null for an uncompleted project with a hard budget.",
        "deadline": "Deadline (YYYY-MM-DD), if set.",
        "start_date": "Start date (YYYY-MM-DD), if set.",
        "automatic_completion": "Whether automatic completion is on for the project.",
        "count_subprojects": "Number of subprojects.",
        "budget_monetary": "Whether the budget is monetary (budget.monetary).",
        "budget_hard": "Whether the budget is hard (budget.hard).",
        "budget_from_subprojects": "Whether the budget comes from the subprojects (budget.from_subprojects).",
        "budget_interval": "Budget interval: 0 weekly, 1 monthly, 2 quarterly, 3 yearly (budget.interval).",
        "budget_amount": "Budget amount (budget.amount), if set.",
        "budget_subprojects_total": "Total of the subprojects' budgets (budget.subprojects_budget_total).",
        "budget_notification_thresholds": "Budget notification thresholds, a JSON list of integers (optional).",
        "service_assignments": "Service assignments, a JSON list of integers.",
    },
    "customers": {
        "id": "Customer ID.",
        "name": "Customer name.",
        "number": "Customer number, if any.",
        "color": "Colour, a palette index 1-9.",
        "billable_default": "Whether the customer is billable by default.",
        "note": _RIGHTS_NOTE,
        "bill_service_id": _BILL_SERVICE,
        "service_assignments": "Service assignments, a JSON list of integers (optional).",
    },
    "users": {
        "id": "Co-worker ID.",
        "name": "Co-worker name.",
        "number": "Co-worker number, if any.",
        "email": "E-mail address.",
        "role": "Role: owner or worker (the SDK also knows manager).",
        "initials": "Initials.",
        "language": "Language: en, de or fr.",
        "timezone": "Time zone, an IANA name (e.g. Europe/Berlin).",
        "teams_id": "ID of the co-worker's team (teams.id); null if none.",
        "start_date": "Start date (YYYY-MM-DD), if set.",
        "exit_date": "Exit date (YYYY-MM-DD), if set.",
        "future_coworker": "Whether the co-worker is a future co-worker.",
        "wage_type": "Wage type: 1 salary, 2 hourly.",
        "work_time_regulations_id": "ID of the work-time regulation; 0 = none, null = the company default.",
        "nonbusiness_groups_id": "ID of the non-business-day group (deprecated by Clockodo).",
        "absence_managers_id": "IDs of the co-worker's absence managers, a JSON list.",
        "access_groups_ids": "IDs of the co-worker's access groups, a JSON list.",
        "can_generally_see_absences": "Whether the co-worker may generally see absences.",
        "can_generally_manage_absences": "Whether the co-worker may generally manage absences.",
        "can_add_customers": "Whether the co-worker may add customers.",
        "default_holidays_count": "Flag: true = the company's default holiday entitlement applies.",
        "default_target_hours": "A flag, not a number of hours.",
        "timeformat_12h": "Whether times are shown in 12-hour format.",
        "weekstart_monday": "Whether the week starts on Monday.",
        "weekend_friday": "Deprecated; has no effect.",
        "edit_lock": "Edit lock date (YYYY-MM-DD), if set.",
        "edit_lock_dyn": "Dynamic edit lock, one of 1, 2, 3, 5, 8, 15, 31, 46, 91; null if none.",
        "work_time_edit_lock_days": "Work-time edit lock in days; 0 = clock only.",
        "budget_notifications": "Whether budget notifications are on for the co-worker.",
        "exempt_from_flextime": "Whether the co-worker is exempt from flextime.",
        "created_at": "When the co-worker was created (UTC).",
    },
    "teams": {
        "id": "Team ID.",
        "name": "Team name.",
        "leader": "User ID of the team leader, if any.",
        "user_ids": "IDs of the team's members (users.id), a JSON list.",
    },
    "services": {
        "id": "Service ID.",
        "name": "Service name.",
        "number": "Service number, if any.",
        "note": _RIGHTS_NOTE,
        "bill_service_id": _BILL_SERVICE,
    },
    "absences": {
        "id": "Absence ID.",
        "date_since": "First day (YYYY-MM-DD); its year places the absence in a yearly partition.",
        "date_until": "Last day (YYYY-MM-DD); equals date_since for a one-day absence.",
        "status": "Status: 0 enquired, 1 approved, 2 declined, 3 approval cancelled, 4 cancelled.",
        "type": (
            "Type 1-15, e.g. 1 holiday, 2 special leave, 3 overtime reduction, 4 sick, 5 sick child, "
            "8 home office; only with absence-admin rights or for own absences."
        ),
        "note": _RIGHTS_NOTE,
        "public_note": "Public note.",
        "sick_note": "Whether there is a sick note; types 4 and 5 only.",
        "count_days": "Length in days (halves allowed); null for overtime reduction (type 3).",
        "count_hours": "Length in hours; only for overtime reduction (type 3).",
        "date_enquired": "Date the absence was enquired (YYYY-MM-DD).",
        "date_approved": "Date the absence was approved (YYYY-MM-DD), if approved.",
        "approved_by": "ID of the user who approved the absence, if any.",
    },
    "work_times": {
        "date": "Day (YYYY-MM-DD) in the co-worker's local calendar; valid data from 2023-08-21.",
        "offset": "Correction in seconds, positive or negative; only possible for days before 2023-01-01.",
        "intervals": "Clocked intervals, a JSON list of {time_since, time_until}; time_until null = still clocking.",
    },
    "target_hours": {
        "id": "Target-hours rule ID.",
        "type": "Kind of rule: weekly or monthly.",
        "date_since": "First day the rule applies (YYYY-MM-DD).",
        "date_until": "Last day the rule applies (YYYY-MM-DD), if set.",
        "surcharge_models_id": "ID of the surcharge model (surcharges.id), if any.",
        "compensation_monthly": "Monthly compensation in hours.",
        "compensation_daily": "Weekly rules: daily compensation in minutes.",
        "absence_fixed_credit": "Weekly rules (optional): absence fixed credit; written as holiday_fixed_credit 0/1.",
        "monthly_target": "Monthly rules: target hours per month.",
        **{
            day: f"Weekly rules: target hours on {day.capitalize()}."
            for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        },
        **{
            f"workday_{day}": f"Monthly rules: whether {day.capitalize()} is a workday."
            for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        },
    },
    "overtime_carries": {
        "id": "Overtime carry ID (one per co-worker and year).",
        "year": "Year the overtime is carried into.",
        "hours": "Overtime hours carried; can be negative.",
        "note": "Note, if any.",
    },
    "holidays_quota": {
        "id": "Holiday quota ID.",
        "year_since": "First year the entitlement applies.",
        "year_until": "Last year it applies; null = open-ended (one open-ended row per co-worker).",
        "count": "Holiday entitlement in days (halves allowed).",
        "note": "Note, if any.",
    },
    "holidays_carries": {
        "id": "Holiday carry ID (one per co-worker and year).",
        "year": "Year the holidays are carried into.",
        "count": "Holiday days carried (halves allowed; -9999 to 9999).",
        "note": "Note, if any.",
    },
    "non_business_days": {
        "id": "Non-business day ID; a recurring day keeps its ID every year.",
        "evaluated_date": "The date it falls on in the requested year (YYYY-MM-DD).",
        "nonbusiness_group_id": "ID of the non-business group it belongs to.",
        "type": "SPECIAL, DISTINCT_ONCE or DISTINCT_RECURRING.",
        "name": "Name of the day.",
        "half_day": "Whether it is a half day.",
        "special_id": "SPECIAL days only: which special day (e.g. Easter-based).",
        "day": "Day of the month (DISTINCT_* types only).",
        "month": "Month (DISTINCT_* types only).",
        "year": "Year (DISTINCT_ONCE only).",
    },
    "lumpsum_services": {
        "id": "Lump-sum service ID.",
        "name": "Lump-sum service name.",
        "number": "Lump-sum service number, if any.",
        "price": "Price per unit.",
        "unit": "Unit, at most 6 characters (e.g. km), if set.",
        "note": _RIGHTS_NOTE,
    },
    "surcharges": {
        "id": "Surcharge model ID.",
        "name": "Surcharge model name.",
        "accumulation": "Whether surcharges accumulate (UNCONFIRMED: possibly night surcharges on top of others).",
        **{
            f"{k}_percent": f"Surcharge percentage for {label} work; null if not configured."
            for k, label in _SURCHARGE_KINDS.items()
        },
        **{
            f"{k}_time_since": f"Time of day (hh:mm:ss) the {label} surcharge starts."
            for k, label in _SURCHARGE_KINDS.items()
        },
        **{
            f"{k}_time_until": f"Time of day (hh:mm:ss) the {label} surcharge ends."
            for k, label in _SURCHARGE_KINDS.items()
        },
        **{
            f"{k}_time_since_is_previous_day": f"Whether the {label} surcharge starts on the previous day."
            for k, label in _SURCHARGE_KINDS.items()
            if not k.startswith("night")
        },
        **{
            f"{k}_time_until_is_next_day": f"Whether the {label} surcharge ends on the next day."
            for k, label in _SURCHARGE_KINDS.items()
            if not k.startswith("night")
        },
    },
    "user_reports": {
        "year": "Year of the report (added by couplet from the request; the API row has none).",
        "users_name": "Co-worker name.",
        "users_number": "Co-worker number, if any.",
        "users_email": "Co-worker e-mail address.",
        "sum_target": "Target time of the year in seconds; may be null.",
        "sum_hours": "Worked time of the year in seconds.",
        "sum_reduction_used": "Overtime reduction used, in seconds.",
        "sum_reduction_planned": "Overtime reduction planned, in seconds.",
        "overtime_carryover": "Overtime carried over, in seconds.",
        "overtime_reduced": "Overtime reduced, in seconds.",
        "diff": "Difference (diff) in seconds.",
        "holidays_quota": "Holiday entitlement of the year, in days.",
        "holidays_carry": "Holidays carried over, in days.",
        "workdays": "Number of workdays.",
        **{
            f"absence_{k}": f"Days of {label} absence in the year (sum_absence.{k})."
            for k, label in _ABSENCE_KINDS.items()
        },
        **{
            f"surcharge_{k}": f"{label.capitalize()} surcharge (surcharges.{k}); seconds, UNCONFIRMED."
            for k, label in _SURCHARGE_KINDS.items()
        },
        "month_details": "Per-month details, a JSON list (nr, sum_target, sum_hours, diff, surcharges, ...).",
    },
    "customers_projects": {
        "permission": "The right: add, report or edit.",
        "scope": "Added by couplet: all (every customer), customer (all its projects) or project (one project).",
        "customers_id": "Customer the right covers (customers.id); null when scope is all.",
        "projects_id": "Project the right covers (projects.id); null unless scope is project.",
    },
}
