"""Clockify's entities, as data (facts: ../shared/reference/clockify.md).

Paths are appended to the regular API base (``.../api``) or, for the detailed report, to the
reports base. Lists page with ``page``/``page-size`` and end on a ``Last-Page: true`` header, a
short page or an empty one; workspaces, custom fields and holidays are not paged (asked once,
never looped). Nested fields become ``parent_child`` columns; durations (ISO-8601 on the regular
API) also land as ``*_seconds`` and money in cents also as currency units, beside the raw value.
"""

from __future__ import annotations

from connectors.core.describe import describe_columns
from connectors.core.entity import (
    Entity,
    FanOut,
    Paging,
    PagingKind,
    Partitioning,
    Window,
    cols,
)

from .descriptions import DESCRIPTIONS
from .drift import with_drift
from .quirks import workspace_status

WS = "/v1/workspaces/{workspace_id}"
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


def paged(size: int = 1000) -> Paging:
    # 5000 is the quoted maximum for regular lists (UNCONFIRMED today); 1000 is safe.
    return Paging(
        PagingKind.PAGE_UNTIL_SHORT,
        page_param="page",
        size_param="page-size",
        size=size,
        last_page_header="Last-Page",
    )


def rate(prefix: str, path: str) -> str:
    """Raw cents, currency units and currency of a Clockify Rate object ``{amount, currency}``."""
    return f"{prefix}_amount:int={path}.amount {prefix}:float={path}.amount|cents {prefix}_currency:str={path}.currency"


def duration(name: str, path: str) -> str:
    """An ISO-8601 duration as sent, and in seconds."""
    return f"{name}:str={path} {name}_seconds:float={path}|iso_duration"


def money(name: str) -> str:
    # Cents, sometimes with decimals in reports (amounts are rate x hours): kept as sent, and in units.
    return f"{name}:float {name}_units:float={name}|cents"


# A list whose `archived` parameter may hide archived records by default, or mean "only archived"
# (SPEC: "whether to include archived clients"; a third-party copy of the docs: "only archived"):
# asked once with archived=false and once with archived=true, the union is every record whichever
# reading is right (duplicates collapse on id). One request more than a single read.
BOTH_ARCHIVED = FanOut(parent="", target="archived", values=("false", "true"))

TIME_OFF = Paging(
    PagingKind.PAGE_UNTIL_SHORT,
    page_param="page",
    size_param="page-size",
    size=200,
    last_page_header="Last-Page",
)

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "workspaces",
        "/v1/workspaces",
        cols(
            "id:str! name:str "
            + rate("hourlyRate", "hourlyRate")
            + " "
            + rate("costRate", "costRate")
            + " featureSubscriptionType:str imageUrl:str subdomain_enabled:bool=subdomain.enabled "
            "subdomain_name:str=subdomain.name currencies:json memberships:json workspaceSettings:json features:json "
            "cakeOrganizationId:str"
        ),
        description="Workspaces the API key can see (GET /v1/workspaces, not paged).",
    ),
    Entity(
        "users",
        WS + "/users",
        cols(
            "id:str! email:str name:str status:str membershipStatus:str profilePicture:str activeWorkspace:str "
            "defaultWorkspace:str settings_timeZone:str=settings.timeZone settings_weekStart:str=settings.weekStart "
            "customFields:json memberships:json settings:json"
        ),
        paging=paged(),
        # Without status only active members come (reference §4.2): deactivated people still own
        # historical time entries. memberships=WORKSPACE tells who is active (membershipStatus).
        params={"status": "ALL", "memberships": "WORKSPACE"},
        hook=workspace_status,
        description="Workspace members, inactive ones included (status=ALL), with their membership status.",
    ),
    Entity(
        "clients",
        WS + "/clients",
        cols(
            "id:str! name:str email:str address:str note:str workspaceId:str archived:bool currencyId:str "
            "currencyCode:str ccEmails:json"
        ),
        paging=paged(),
        fan_out=BOTH_ARCHIVED,  # without `archived` the list leaves archived clients out (reference §4.3)
        description="Clients, active and archived (asked both ways: archived=false, archived=true).",
    ),
    Entity(
        "projects",
        WS + "/projects",
        cols(
            "id:str! name:str workspaceId:str clientId:str clientName:str color:str note:str archived:bool "
            "billable:bool public:bool template:bool "
            + rate("hourlyRate", "hourlyRate")
            + " "
            + rate("costRate", "costRate")
            + " "
            + duration("duration", "duration")
            + " "
            + duration("estimate", "estimate.estimate")
            + " estimate_type:str=estimate.type timeEstimate:json budgetEstimate:json memberships:json"
        ),
        paging=paged(),  # without ``archived`` the list holds active and archived projects
        description="Projects, active and archived, with rates and estimates.",
    ),
    Entity(
        "tasks",
        WS + "/projects/{project_id}/tasks",
        cols(
            "id:str! name:str projectId:str assigneeIds:json assigneeId:str userGroupIds:json billable:bool "
            "status:str "
            + duration("estimate", "estimate")
            + " "
            + duration("duration", "duration")
            + " budgetEstimate:int "
            + rate("hourlyRate", "hourlyRate")
            + " "
            + rate("costRate", "costRate")
        ),
        paging=paged(),
        fan_out=FanOut(parent="projects", target="project_id", inject_as="projectId"),
        description="Tasks of every project (one request series per project).",
    ),
    Entity(
        "tags",
        WS + "/tags",
        cols("id:str! name:str workspaceId:str archived:bool"),
        paging=paged(),
        fan_out=BOTH_ARCHIVED,  # what the list holds without `archived` is not documented (§4.6)
        description="Tags, active and archived (asked both ways: archived=false, archived=true).",
    ),
    Entity(
        "time_entries",
        WS + "/user/{user_id}/time-entries",
        cols(
            "id:str! description:str userId:str workspaceId:str projectId:str taskId:str kioskId:str tagIds:json "
            "billable:bool isLocked:bool type:str timeInterval_start:datetime=timeInterval.start "
            "timeInterval_end:datetime=timeInterval.end "
            + duration("timeInterval_duration", "timeInterval.duration")
            + " "
            + rate("hourlyRate", "hourlyRate")
            + " "
            + rate("costRate", "costRate")
            + " customFieldValues:json"
        ),
        paging=paged(),
        fan_out=FanOut(parent="users", target="user_id", inject_as="userId"),
        # start/end are read as wall-clock time in the account's zone, not as the UTC instant sent:
        # ask a day more on each side and keep what starts inside the window (deduped on id).
        window=Window(
            Partitioning.DAILY,
            since_param="start",
            until_param="end",
            format=ISO_UTC,
            max_days=31,
            pad_days=1,
            partition_field="timeInterval_start",
        ),
        description="Time entries per user and day of their UTC start (one request series per user).",
    ),
    Entity(
        "detailed_report",
        WS + "/reports/detailed",
        cols(
            "_id:str! description:str userId:str userName:str userEmail:str projectId:str projectName:str "
            "projectColor:str clientId:str clientName:str taskId:str taskName:str tagIds:json tags:json "
            "billable:bool isLocked:bool type:str approvalRequestId:str "
            "timeInterval_start:datetime=timeInterval.start timeInterval_end:datetime=timeInterval.end "
            "timeInterval_duration:int=timeInterval.duration "
            + money("rate")
            + " "
            + money("amount")
            + " invoicingInfo:json customFields:json"
        ),
        primary_key=("_id",),
        envelope="timeentries",
        method="POST",
        host="reports_url",
        json_body={
            "timeZone": "UTC",  # bounds and timestamps literal in UTC (the default is the account's zone)
            "exportType": "JSON",
            "amountShown": "EARNED",
            "detailedFilter": {"sortColumn": "DATE"},
        },
        paging=Paging(
            PagingKind.PAGE_UNTIL_SHORT,
            page_param="detailedFilter.page",
            size_param="detailedFilter.pageSize",
            size=1000,
            in_body=True,
        ),
        window=Window(
            Partitioning.DAILY,
            since_param="dateRangeStart",
            until_param="dateRangeEnd",
            format=ISO_UTC,
            max_days=31,  # the free plan's limit for one request
            in_body=True,
            partition_field="timeInterval_start",
        ),
        description="All users' time entries with names and amounts from the detailed report (reports host), by UTC day.",
    ),
    Entity(
        "user_groups",
        WS + "/user-groups",
        cols("id:str! name:str workspaceId:str userIds:json teamManagers:json"),
        paging=paged(),
        params={"includeTeamManagers": "true"},
        description="User groups (teams) with their members.",
    ),
    Entity(
        "custom_fields",
        WS + "/custom-fields",
        cols(
            "id:str! name:str description:str placeholder:str workspaceId:str type:str entityType:str status:str "
            "required:bool onlyAdminCanEdit:bool allowedValues:json workspaceDefaultValue:json "
            "projectDefaultValues:json"
        ),
        description="Custom fields (not paged: asked once).",
    ),
    Entity(
        "approval_requests",
        WS + "/approval-requests",
        cols(
            "id:str!=approvalRequest.id workspaceId:str=approvalRequest.workspaceId "
            "dateRange_start:datetime=approvalRequest.dateRange.start "
            "dateRange_end:datetime=approvalRequest.dateRange.end owner_userId:str=approvalRequest.owner.userId "
            "owner_userName:str=approvalRequest.owner.userName owner_timeZone:str=approvalRequest.owner.timeZone "
            "owner_startOfWeek:str=approvalRequest.owner.startOfWeek creator_userId:str=approvalRequest.creator.userId "
            "creator_userName:str=approvalRequest.creator.userName "
            "creator_userEmail:str=approvalRequest.creator.userEmail "
            "status_state:str=approvalRequest.status.state status_note:str=approvalRequest.status.note "
            "status_updatedAt:datetime=approvalRequest.status.updatedAt "
            "status_updatedBy:str=approvalRequest.status.updatedBy "
            "status_updatedByUserName:str=approvalRequest.status.updatedByUserName "
            + " ".join(
                duration(n, n)
                for n in ("approvedTime", "billableTime", "breakTime", "pendingTime", "trackedTime")
            )
            + " billableAmount:float costAmount:float expenseTotal:float entries:json expenses:json"
        ),
        paging=paged(),
        # Only these states can be listed, one at a time.
        fan_out=FanOut(parent="", target="status", values=("PENDING", "APPROVED", "WITHDRAWN_APPROVAL")),
        description="Timesheet approval requests in every listable state.",
    ),
    Entity(
        "expenses",
        WS + "/expenses",
        cols(
            "id:str! workspaceId:str userId:str date:date notes:str fileId:str fileName:str billable:bool "
            "isLocked:bool locked:bool quantity:float " + money("total") + " category_id:str=category.id "
            "category_name:str=category.name category_unit:str=category.unit "
            "category_priceInCents:int=category.priceInCents category_hasUnitPrice:bool=category.hasUnitPrice "
            "category_archived:bool=category.archived project_id:str=project.id project_name:str=project.name "
            "project_color:str=project.color project_clientId:str=project.clientId "
            "project_clientName:str=project.clientName task_id:str=task.id task_name:str=task.name"
        ),
        not_kept={"category.workspaceId": "the expense's own workspaceId"},
        envelope="expenses.expenses",
        paging=paged(),
        description="Expenses (records at expenses.expenses).",
    ),
    Entity(
        "expense_categories",
        WS + "/expenses/categories",
        cols(
            "id:str! name:str unit:str priceInCents:int price:float=priceInCents|cents hasUnitPrice:bool "
            "archived:bool workspaceId:str"
        ),
        envelope="categories",
        paging=paged(),  # the server caps a page: always page, never read once
        fan_out=BOTH_ARCHIVED,  # what the list holds without `archived` is not documented (§4.12)
        description="Expense categories, active and archived (asked both ways: archived=false, archived=true).",
    ),
    Entity(
        "invoices",
        WS + "/invoices",
        cols(
            "id:str! number:str clientId:str clientName:str currency:str status:str "
            + money("amount")
            + " "
            + money("balance")
            + " "
            + money("paid")
            + " issuedDate:datetime dueDate:datetime"
        ),
        envelope="invoices",
        paging=paged(),
        description="Invoices (amounts in cents and in currency units).",
    ),
    Entity(
        "invoice_payments",
        WS + "/invoices/{invoice_id}/payments",
        cols("id:str! invoiceId:str " + money("amount") + " date:datetime author:str note:str"),
        paging=paged(),
        fan_out=FanOut(parent="invoices", target="invoice_id", inject_as="invoiceId"),
        description="Payments of every invoice (one request series per invoice).",
    ),
    Entity(
        "holidays",
        WS + "/holidays",
        cols(
            "id:str! name:str workspaceId:str projectId:str taskId:str "
            "datePeriod_startDate:date=datePeriod.startDate datePeriod_endDate:date=datePeriod.endDate "
            "occursAnnually:bool everyoneIncludingNew:bool automaticTimeEntryCreation:json userIds:json "
            "userGroupIds:json"
        ),
        description="Holidays (not paged: asked once).",
    ),
    Entity(
        "time_off_policies",
        WS + "/time-off/policies",
        cols(
            "id:str! name:str workspaceId:str projectId:str timeUnit:str archived:bool allowHalfDay:bool "
            "allowNegativeBalance:bool everyoneIncludingNew:bool userIds:json userGroupIds:json approve:json "
            "automaticAccrual:json automaticTimeEntryCreation:json negativeBalance:json"
        ),
        paging=TIME_OFF,
        params={"status": "ALL"},
        description="Time-off policies, archived ones included.",
    ),
    Entity(
        "time_off_requests",
        WS + "/time-off/requests",
        cols(
            "id:str! workspaceId:str userId:str userName:str userEmail:str userTimeZone:str policyId:str "
            "policyName:str requesterUserId:str requesterUserName:str note:str createdAt:datetime timeUnit:str "
            "balance:float balanceDiff:float period_start:datetime=timeOffPeriod.period.start "
            "period_end:datetime=timeOffPeriod.period.end halfDay:bool=timeOffPeriod.halfDay "
            "halfDayPeriod:str=timeOffPeriod.halfDayPeriod halfDayHours:float=timeOffPeriod.halfDayHours "
            "status_statusType:str=status.statusType status_changedByUserId:str=status.changedByUserId "
            "status_changedByUserName:str=status.changedByUserName "
            "status_changedForUserName:str=status.changedForUserName status_changedAt:datetime=status.changedAt "
            "status_note:str=status.note"
        ),
        envelope="requests",
        method="POST",
        json_body={"statuses": ["ALL"]},
        paging=Paging(
            PagingKind.PAGE_UNTIL_SHORT, page_param="page", size_param="pageSize", size=200, in_body=True
        ),
        # A search by creation time: one year a request, placed by createdAt; status changes are
        # caught because the schedule re-reads last year and this year.
        window=Window(
            Partitioning.YEARLY,
            since_param="start",
            until_param="end",
            format=ISO_UTC,
            in_body=True,
            partition_field="createdAt",
        ),
        description="Time-off requests in every status, by the year they were made (POST search).",
    ),
    Entity(
        "time_off_balances",
        WS + "/time-off/balance/policy/{policy_id}",
        cols(
            "id:str! userId:str userName:str policyId:str policyName:str policyTimeUnit:str policyArchived:bool "
            "balance:float used:float total:float negativeBalanceAmount:float negativeBalanceLimit:float "
            "workspaceId:str"
        ),
        envelope="balances",
        paging=TIME_OFF,
        fan_out=FanOut(parent="time_off_policies", target="policy_id", inject_as="policyId"),
        description="Time-off balances per user of every policy (one request series per policy).",
    ),
    Entity(
        "scheduling_assignments",
        WS + "/scheduling/assignments/all",
        cols(
            "id:str! userId:str userName:str projectId:str projectName:str projectColor:str clientId:str "
            "clientName:str taskId:str taskName:str period_start:datetime=period.start "
            "period_end:datetime=period.end hoursPerDay:float startTime:str billable:bool note:str "
            "projectArchived:bool projectBillable:bool workspaceId:str"
        ),
        paging=paged(),
        window=Window(
            Partitioning.DAILY,
            since_param="start",
            until_param="end",
            format=ISO_UTC,
            max_days=31,
            partition_field="period_start",
        ),
        description="Scheduled assignments, placed by the UTC day they start.",
    ),
)

ENTITIES = with_drift(describe_columns(ENTITIES, DESCRIPTIONS))  # drift signals: drift.py
