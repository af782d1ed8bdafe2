"""What Clockify's columns mean, as data: entity -> column -> one sentence.

Only what ../shared/reference/clockify.md documents (units, formats, allowed values, nesting); "*"
holds sentences shared by every entity with that column. Applied in ``entities.py``. Money on the
API is in cents: couplet keeps the raw value and adds it in currency units beside it.
"""

from __future__ import annotations


def _rate(prefix: str, label: str) -> dict[str, str]:
    """Sentences for the three columns ``entities.rate()`` makes of a Rate object."""
    return {
        f"{prefix}_amount": f"{label} in cents ({prefix}.amount); null if none.",
        prefix: f"{label} in currency units ({prefix}.amount / 100); null if none.",
        f"{prefix}_currency": f"Currency of the {label.lower()} ({prefix}.currency).",
    }


def _duration(name: str, label: str) -> dict[str, str]:
    """Sentences for the two columns ``entities.duration()`` makes of an ISO-8601 duration."""
    return {
        name: f"{label}, an ISO-8601 duration as sent (e.g. PT2H54M).",
        f"{name}_seconds": f"{label} in seconds (converted from {name}).",
    }


_MEMBERSHIPS = (
    "Memberships, a JSON list of {userId, targetId, membershipType, membershipStatus, hourlyRate, costRate}."
)

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "*": {
        "id": "Clockify ID (24 hex characters).",
        "workspaceId": "ID of the workspace.",
        "userId": "ID of the user (users.id).",
        "userName": "Name of the user.",
        "userEmail": "E-mail address of the user.",
        "projectId": "ID of the project (projects.id).",
        "projectName": "Name of the project.",
        "projectColor": "Colour of the project (#rrggbb).",
        "clientId": "ID of the client (clients.id).",
        "clientName": "Name of the client.",
        "taskId": "ID of the task (tasks.id).",
        "taskName": "Name of the task.",
        "policyId": "ID of the time-off policy (time_off_policies.id).",
        "policyName": "Name of the time-off policy.",
        "archived": "Whether it is archived.",
        "billable": "Whether it is billable.",
        "isLocked": "Whether it is locked.",
        "note": "Note.",
        "userIds": "IDs of the users it applies to, a JSON list.",
        "userGroupIds": "IDs of the user groups it applies to, a JSON list.",
        "everyoneIncludingNew": "Whether it applies to everyone, new users included.",
        "timeUnit": "Time unit: DAYS or HOURS.",
        **_rate("hourlyRate", "Hourly rate"),
        **_rate("costRate", "Cost rate"),
    },
    "workspaces": {
        "name": "Workspace name.",
        "featureSubscriptionType": "Subscription plan, e.g. FREE, BASIC, STANDARD, PRO, ENTERPRISE.",
        "imageUrl": "URL of the workspace image.",
        "subdomain_enabled": "Whether the workspace has its own subdomain (subdomain.enabled).",
        "subdomain_name": "The workspace's subdomain (subdomain.name).",
        "currencies": "Currencies, a JSON list of {id, code, isDefault}.",
        "memberships": _MEMBERSHIPS,
        "workspaceSettings": "Workspace settings, a JSON object of about 36 flags (e.g. lockTimeEntries).",
        "features": "Feature flags of the workspace, as sent (a JSON list or object).",
        "cakeOrganizationId": "Organization ID, as sent (cakeOrganizationId; not described further).",
    },
    "users": {
        "email": "E-mail address.",
        "name": "Name.",
        "status": (
            "Status: ACTIVE, PENDING_EMAIL_VERIFICATION, DELETED, NOT_REGISTERED, LIMITED or LIMITED_DELETED."
        ),
        "profilePicture": "Profile picture, as sent (a string; not described further).",
        "membershipStatus": (
            "Status in this workspace: ACTIVE, INACTIVE (deactivated), PENDING or DECLINED (from the "
            "WORKSPACE membership)."
        ),
        "activeWorkspace": "ID of the user's active workspace.",
        "defaultWorkspace": "ID of the user's default workspace.",
        "settings_timeZone": "The user's time zone (settings.timeZone).",
        "settings_weekStart": "The day the user's week starts (settings.weekStart).",
        "customFields": (
            "User custom field values, a JSON list of {customFieldId, customFieldName, customFieldType, "
            "userId, value}."
        ),
        "memberships": "Memberships, a JSON list: couplet asks for the WORKSPACE one (memberships=WORKSPACE).",
        "settings": "User settings, a JSON object (weekStart, timeZone, timeFormat, dateFormat, lang, ...).",
    },
    "clients": {
        "name": "Client name.",
        "email": "Client e-mail address.",
        "address": "Client address.",
        "currencyId": "ID of the client's currency.",
        "currencyCode": "Code of the client's currency.",
        "ccEmails": "CC e-mail addresses, a JSON list.",
    },
    "projects": {
        "name": "Project name.",
        "color": "Colour (#rrggbb).",
        "public": "Whether the project is public.",
        "template": "Whether the project is a template.",
        **_duration("duration", "Total tracked time"),
        **_duration("estimate", "Time estimate (estimate.estimate)"),
        "estimate_type": "Estimate type: AUTO or MANUAL (estimate.type).",
        "timeEstimate": (
            "Time estimate, a JSON object {estimate, type, resetOption WEEKLY|MONTHLY|YEARLY|null, active, "
            "includeNonBillable}."
        ),
        "budgetEstimate": (
            "Budget estimate, a JSON object {estimate, type, resetOption, active, includeExpenses}, or null."
        ),
        "memberships": _MEMBERSHIPS,
    },
    "tasks": {
        "name": "Task name.",
        "projectId": "ID of the task's project (projects.id).",
        "assigneeIds": "IDs of the assigned users, a JSON list.",
        "assigneeId": "Single assignee ID (legacy); may be null.",
        "userGroupIds": "IDs of the assigned user groups, a JSON list.",
        "status": "Status: ACTIVE or DONE.",
        **_duration("estimate", "Estimate"),
        **_duration("duration", "Tracked time"),
        "budgetEstimate": "Budget estimate, an integer as sent.",
    },
    "tags": {
        "name": "Tag name.",
    },
    "time_entries": {
        "description": "Description of the time entry.",
        "kioskId": "ID of the kiosk, if any.",
        "tagIds": "IDs of the entry's tags, a JSON list.",
        "type": "Kind of entry: REGULAR, BREAK, HOLIDAY or TIME_OFF.",
        "timeInterval_start": "Start (UTC); entries are partitioned by its UTC day.",
        "timeInterval_end": "End (UTC); may be null (a running timer, UNCONFIRMED).",
        **_duration("timeInterval_duration", "Duration"),
        "customFieldValues": "Custom field values, a JSON list of {customFieldId, timeEntryId, name, type, value}.",
    },
    "detailed_report": {
        "_id": "ID of the time entry (the report's _id).",
        "description": "Description of the time entry.",
        "tagIds": "IDs of the entry's tags, a JSON list.",
        "tags": "The entry's tags, a JSON list of {id, name}.",
        "type": "Kind of entry.",
        "approvalRequestId": "ID of the approval request, if any.",
        "timeInterval_start": "Start (UTC: couplet asks the report in UTC); partitions by its UTC day.",
        "timeInterval_end": "End (UTC: couplet asks the report in UTC).",
        "timeInterval_duration": "Duration in seconds (the report sends integer seconds).",
        "rate": "Rate in cents, as sent.",
        "rate_units": "Rate in currency units (rate / 100).",
        "amount": "Earned amount in cents, as sent (couplet asks for EARNED amounts).",
        "amount_units": "Earned amount in currency units (amount / 100).",
        "invoicingInfo": "Invoicing info, a JSON object; absent or [] when not invoiced.",
        "customFields": "Custom field values of the entry, as sent (JSON; the shape is UNCONFIRMED).",
    },
    "user_groups": {
        "name": "User group name.",
        "userIds": "IDs of the group's members, a JSON list.",
        "teamManagers": "Team managers of the group, a JSON list of {id, name}.",
    },
    "custom_fields": {
        "name": "Custom field name.",
        "description": "Description of the custom field.",
        "placeholder": "Placeholder text.",
        "type": "Field type: TXT, NUMBER, DROPDOWN_SINGLE, DROPDOWN_MULTIPLE, CHECKBOX or LINK.",
        "entityType": "What the field is on, e.g. TIMEENTRY or USER (full list UNCONFIRMED).",
        "status": "Status: INACTIVE, VISIBLE or INVISIBLE.",
        "required": "Whether a value is required.",
        "onlyAdminCanEdit": "Whether only admins may edit the value.",
        "allowedValues": "Allowed values, a JSON list of strings.",
        "workspaceDefaultValue": "Default value for the workspace (JSON, any type).",
        "projectDefaultValues": "Defaults per project, a JSON list of {projectId, status, value}.",
    },
    "approval_requests": {
        "id": "Approval request ID (approvalRequest.id).",
        "workspaceId": "ID of the workspace (approvalRequest.workspaceId).",
        "dateRange_start": "Start of the period the request covers (approvalRequest.dateRange.start).",
        "dateRange_end": "End of the period the request covers (approvalRequest.dateRange.end).",
        "owner_userId": "User ID of the request's owner (approvalRequest.owner.userId).",
        "owner_userName": "Name of the request's owner.",
        "owner_timeZone": "Time zone of the request's owner (approvalRequest.owner.timeZone).",
        "owner_startOfWeek": "First day of the week of the request's owner.",
        "creator_userId": "User ID of the request's creator (approvalRequest.creator.userId).",
        "creator_userName": "Name of the request's creator.",
        "creator_userEmail": "E-mail address of the request's creator.",
        "status_state": (
            "PENDING, APPROVED, WITHDRAWN_SUBMISSION, WITHDRAWN_APPROVAL or REJECTED; only PENDING, "
            "APPROVED and WITHDRAWN_APPROVAL can be listed."
        ),
        "status_note": "Note on the status.",
        "status_updatedAt": "When the status was last updated (UTC).",
        "status_updatedBy": "ID of the user who last updated the status.",
        "status_updatedByUserName": "Name of the user who last updated the status.",
        **_duration("approvedTime", "Approved time"),
        **_duration("billableTime", "Billable time"),
        **_duration("breakTime", "Break time"),
        **_duration("pendingTime", "Pending time"),
        **_duration("trackedTime", "Tracked time"),
        "billableAmount": "Billable amount.",
        "costAmount": "Cost amount.",
        "expenseTotal": "Total of the expenses.",
        "entries": "Time entries of the request, a JSON list (with project, task, tags, timeInterval).",
        "expenses": "Expenses of the request, a JSON list (with approvalStatus).",
    },
    "expenses": {
        "date": "Date of the expense (YYYY-MM-DD).",
        "notes": "Notes.",
        "fileId": "ID of the attached file.",
        "fileName": "Name of the attached file.",
        "quantity": "Quantity.",
        "total": "Total as sent; in minor units (cents) is UNCONFIRMED.",
        "total_units": "Total / 100: currency units if total is in cents (UNCONFIRMED).",
        "category_id": "ID of the expense category (expense_categories.id).",
        "category_name": "Name of the expense category.",
        "category_unit": "Unit of the expense category.",
        "category_priceInCents": "Unit price of the expense category, in cents.",
        "category_hasUnitPrice": "Whether the expense category has a unit price.",
        "category_archived": "Whether the expense category is archived.",
        "locked": "Whether it is locked (sent beside isLocked).",
        "project_id": "ID of the project (projects.id).",
        "project_name": "Name of the project.",
        "project_color": "Color of the project (#rrggbb).",
        "project_clientId": "ID of the project's client (clients.id).",
        "project_clientName": "Name of the project's client.",
        "task_id": "ID of the task (tasks.id).",
        "task_name": "Name of the task.",
    },
    "expense_categories": {
        "name": "Category name.",
        "unit": "Unit.",
        "priceInCents": "Unit price in cents.",
        "price": "Unit price in currency units (priceInCents / 100).",
        "hasUnitPrice": "Whether the category has a unit price.",
    },
    "invoices": {
        "number": "Invoice number.",
        "currency": "Currency of the invoice.",
        "status": "Status: UNSENT, SENT, PAID, PARTIALLY_PAID, VOID or OVERDUE.",
        "amount": "Amount in cents.",
        "amount_units": "Amount in currency units (amount / 100).",
        "balance": "Balance in cents.",
        "balance_units": "Balance in currency units (balance / 100).",
        "paid": "Amount paid, in cents.",
        "paid_units": "Amount paid, in currency units (paid / 100).",
        "issuedDate": "Issue date (UTC).",
        "dueDate": "Due date (UTC).",
    },
    "invoice_payments": {
        "invoiceId": "ID of the invoice (invoices.id), added from the request.",
        "amount": "Amount paid, in cents.",
        "amount_units": "Amount paid, in currency units (amount / 100).",
        "date": "Date of the payment (UTC).",
        "author": "Author of the payment record.",
    },
    "holidays": {
        "name": "Holiday name.",
        "datePeriod_startDate": "First day (YYYY-MM-DD).",
        "datePeriod_endDate": "Last day (YYYY-MM-DD).",
        "occursAnnually": "Whether the holiday recurs every year.",
        "automaticTimeEntryCreation": "Automatic time-entry creation, kept as JSON (documented as a bool).",
    },
    "time_off_policies": {
        "name": "Policy name.",
        "allowHalfDay": "Whether half days may be requested.",
        "allowNegativeBalance": "Whether the balance may go negative.",
        "approve": "Approval settings, a JSON object {requiresApproval, specificMembers, teamManagers, userIds}.",
        "automaticAccrual": "Automatic accrual, a JSON object {amount, period MONTH|YEAR, timeUnit}.",
        "automaticTimeEntryCreation": (
            "Automatic time-entry creation, a JSON object {enabled, defaultEntities {projectId, taskId}}."
        ),
        "negativeBalance": "Negative balance settings, a JSON object {amount, period, shouldReset, timeUnit}.",
    },
    "time_off_requests": {
        "userTimeZone": "Time zone of the user.",
        "requesterUserId": "ID of the user who made the request.",
        "requesterUserName": "Name of the user who made the request.",
        "createdAt": "When the request was made (UTC); places it in a yearly partition.",
        "period_start": "Start of the time off (timeOffPeriod.period.start).",
        "period_end": "End of the time off (timeOffPeriod.period.end).",
        "halfDay": "Whether it is a half day (timeOffPeriod.halfDay).",
        "halfDayPeriod": "Which half of the day (timeOffPeriod.halfDayPeriod).",
        "halfDayHours": "Hours of the half day (timeOffPeriod.halfDayHours).",
        "status_statusType": "Status: PENDING, APPROVED or REJECTED.",
        "status_changedByUserId": "ID of the user who changed the status; null while pending.",
        "status_changedByUserName": "Name of the user who changed the status; null while pending.",
        "status_changedForUserName": "Name of the user the request is for (status.changedForUserName).",
        "status_changedAt": "When the status changed (UTC); null while pending.",
        "status_note": "Note on the status; null while pending.",
    },
    "time_off_balances": {
        "policyTimeUnit": "Time unit of the policy.",
        "policyArchived": "Whether the policy is archived.",
    },
    "scheduling_assignments": {
        "period_start": "Start of the assignment (UTC); assignments are partitioned by its UTC day.",
        "period_end": "End of the assignment (UTC).",
        "hoursPerDay": "Scheduled hours per day.",
        "startTime": "Start time of day.",
        "projectArchived": "Whether the project is archived.",
        "projectBillable": "Whether the project is billable.",
    },
}
