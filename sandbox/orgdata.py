"""Records and builders of the synthetic agency's dimensions (people, clients, projects, absences...).

`sandbox.org.Org` calls these builders once; they are kept apart from the entry engine so each module
stays small. Everything is derived from the seed: the same options always give the same agency.
Ids of each kind live in their own range (users 1001+, customers 2001+, projects 3001+...) so a join on
the wrong key finds nothing instead of finding the wrong rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

USER_BASE, TEAM_BASE, CLIENT_BASE, PROJECT_BASE = 1000, 100, 2000, 3000
SERVICE_BASE, LUMPSUM_BASE, HOLIDAY_BASE, ABSENCE_BASE = 400, 500, 700, 50_000
SCHEDULE_BASE, TEXT_BASE, ENTRY_BASE = 8000, 900_000, 10_000_000
TEXTS_PER_SERVICE = 5
# Absence kinds that keep a person from working; home office and out-of-office days are worked.
BLOCKING = frozenset({"vacation", "special_leave", "sick", "sick_child", "education"})
FULL_TIME = (8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0)


@dataclass(frozen=True)
class Schedule:
    id: int
    user_id: int
    since: date
    until: date | None
    hours: tuple[float, ...]  # Monday..Sunday


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str
    initials: str
    number: str
    team_id: int | None
    role: str  # "owner" or "worker"
    start_date: date
    exit_date: date | None
    timezone: str
    language: str
    schedules: tuple[Schedule, ...]
    vacation_days: int
    portfolio: tuple[int, ...]  # project ids this person books on
    created_at: date

    @property
    def active(self) -> bool:
        return self.exit_date is None

    def employed(self, day: date) -> bool:
        return self.start_date <= day and (self.exit_date is None or day <= self.exit_date)

    def hours_on(self, day: date) -> float:
        """Scheduled hours on a day (0 outside employment)."""
        if not self.employed(day):
            return 0.0
        for s in self.schedules:
            if s.since <= day and (s.until is None or day <= s.until):
                return s.hours[day.weekday()]
        return 0.0


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    leader_id: int | None
    member_ids: tuple[int, ...]


@dataclass(frozen=True)
class Client:
    id: int
    name: str
    number: str
    active: bool
    internal: bool
    color: int
    note: str | None


@dataclass(frozen=True)
class Project:
    id: int
    client_id: int
    name: str
    number: str
    billable: bool
    hourly_rate: float
    start_date: date
    completed_at: date | None
    deadline: date | None
    budget_hours: float | None
    budget_money: float | None
    service_ids: tuple[int, ...]
    note: str | None

    def running(self, day: date) -> bool:
        return self.start_date <= day and (self.completed_at is None or day <= self.completed_at)


@dataclass(frozen=True)
class Service:
    id: int
    name: str
    number: str
    billable: bool
    hourly_rate: float
    active: bool
    note: str | None


@dataclass(frozen=True)
class LumpsumService:
    id: int
    name: str
    number: str
    unit: str
    price: float
    active: bool


@dataclass(frozen=True)
class Holiday:
    """A public holiday: fixed day each year, Easter-relative, or once in one year."""

    id: int
    name: str
    kind: str  # "fixed" | "easter" | "once"
    month: int = 0
    day: int = 0
    offset: int = 0
    year: int = 0
    half_day: bool = False

    def date_in(self, year: int) -> date | None:
        if self.kind == "fixed":
            return date(year, self.month, self.day)
        if self.kind == "easter":
            return easter(year) + timedelta(days=self.offset)
        return date(self.year, self.month, self.day) if year == self.year else None


@dataclass(frozen=True)
class Absence:
    id: int
    user_id: int
    kind: str  # vacation, special_leave, overtime_reduction, sick, sick_child, education, home_office
    start: date
    end: date
    status: str  # requested | approved | declined
    days: float | None
    hours: float | None
    requested_on: date
    approved_on: date | None
    approved_by: int | None
    note: str | None


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * l_) // 433
    month = (h + l_ - 7 * m + 90) // 25
    return date(year, month, (h + l_ - 7 * m + 33 * month + 19) % 32)


FIRST = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannes", "Ida", "Jonas", "Karla", "Leon",
    "Mia", "Noah", "Olivia", "Paul", "Quirin", "Rosa", "Samuel", "Tara", "Uwe", "Vera", "Wim", "Xenia",
    "Yusuf", "Zoe", "Aylin", "Bruno", "Cem", "Dora", "Emil", "Frieda", "Goran", "Hanna", "Ilias", "Jule",
    "Kofi", "Lena", "Mats", "Nele",
)  # fmt: skip
LAST = (
    "Adler", "Becker", "Conrad", "Demir", "Engel", "Fischer", "Graf", "Hoffmann", "Iversen", "Jansen",
    "Kaiser", "Lang", "Meyer", "Neumann", "Ott", "Peters", "Quast", "Richter", "Schulz", "Tran",
    "Ulrich", "Vogel", "Weber", "Yilmaz", "Zimmer", "Albers", "Brandt", "Castro", "Dietz", "Ernst",
    "Fuchs", "Gruber", "Horn", "Ivanova", "Jung", "Krause", "Lorenz", "Marx", "Nowak", "Otto",
)  # fmt: skip
TEAMS = ("Design", "Development", "Strategy & Accounts", "Content", "Data", "Motion")
CLIENTS = (
    "Nordlicht Bakery", "Hafenkontor Logistics", "Alpenblick Hotels", "Kiezkultur e.V.",
    "Rheinwerk Tools", "Sonnendeck Solar", "Brückner & Partner Law", "Feldweg Organic Farms",
    "Glasklar Optics", "Stadtwerke Mittelhausen", "Polarstern Travel", "Kornblume Florists",
)  # fmt: skip
PROJECTS = (
    "Website relaunch", "Brand refresh", "SEO retainer", "Online shop", "Newsletter programme",
    "Social media campaign", "Mobile app", "Annual report", "Trade fair stand", "Intranet",
    "Product launch", "Photo shoot",
)  # fmt: skip
SERVICES = (
    ("Consulting", 130.0), ("Design", 105.0), ("Development", 115.0), ("Project management", 95.0),
    ("Copywriting", 85.0), ("Quality assurance", 90.0), ("Training", 110.0), ("Support", 80.0),
)  # fmt: skip
TEXTS = {
    "Consulting": ("Workshop preparation", "Stakeholder interview", "Concept review", "Strategy call",
                   "Follow-up notes"),
    "Design": ("Moodboard", "Wireframes", "Layout revisions", "Logo variants", "Style guide update"),
    "Development": ("Feature implementation", "Bug fixing", "Code review", "Deployment", "Performance tuning"),
    "Project management": ("Weekly status meeting", "Planning", "Budget check", "Client call",
                           "Timeline update"),
    "Copywriting": ("Draft article", "Proofreading", "Headline options", "Newsletter copy", "Translation check"),
    "Administration": ("Team meeting", "Invoicing", "Hiring interviews", "Tool setup", "One-on-one"),
}  # fmt: skip
GENERIC_TEXTS = ("Preparation", "Execution", "Revisions", "Coordination", "Documentation")


def make_services(n: int) -> list[Service]:
    """`n` services: billable ones from the pool, and always a non-billable Administration last."""
    out = []
    for i in range(max(1, n - 1)):
        name, rate = SERVICES[i % len(SERVICES)]
        name += f" {i // len(SERVICES) + 1}" if i >= len(SERVICES) else ""
        out.append(Service(SERVICE_BASE + 1 + i, name, f"S-{i + 1:02d}", True, rate, i != 5, None))
    sid = SERVICE_BASE + 1 + len(out)
    out.append(Service(sid, "Administration", f"S-{len(out) + 1:02d}", False, 0.0, True, "Internal work"))
    return out


def make_lumpsum_services() -> list[LumpsumService]:
    return [
        LumpsumService(LUMPSUM_BASE + 1, "Travel", "L-01", "km", 0.3, True),
        LumpsumService(LUMPSUM_BASE + 2, "Hosting", "L-02", "month", 29.0, True),
        LumpsumService(LUMPSUM_BASE + 3, "Printing", "L-03", "pcs", 0.12, False),
    ]


def make_texts(services: list[Service]) -> list[tuple[int, str]]:
    """Reusable entry texts, TEXTS_PER_SERVICE per service, ids in service order."""
    out = []
    for si, s in enumerate(services):
        for j, text in enumerate(TEXTS.get(s.name, GENERIC_TEXTS)[:TEXTS_PER_SERVICE]):
            out.append((TEXT_BASE + 1 + si * TEXTS_PER_SERVICE + j, text))
    return out


def make_holidays(once_year: int) -> list[Holiday]:
    """Public holidays of Berlin, two half days, and one company day (`once_year`)."""
    spec = [
        ("New Year's Day", "fixed", 1, 1, 0, False), ("International Women's Day", "fixed", 3, 8, 0, False),
        ("Good Friday", "easter", 0, 0, -2, False), ("Easter Monday", "easter", 0, 0, 1, False),
        ("Labour Day", "fixed", 5, 1, 0, False), ("Ascension Day", "easter", 0, 0, 39, False),
        ("Whit Monday", "easter", 0, 0, 50, False), ("German Unity Day", "fixed", 10, 3, 0, False),
        ("Christmas Eve", "fixed", 12, 24, 0, True), ("Christmas Day", "fixed", 12, 25, 0, False),
        ("Boxing Day", "fixed", 12, 26, 0, False), ("New Year's Eve", "fixed", 12, 31, 0, True),
    ]  # fmt: skip
    out = [
        Holiday(HOLIDAY_BASE + 1 + i, n, k, m, d, off, 0, half)
        for i, (n, k, m, d, off, half) in enumerate(spec)
    ]
    out.append(Holiday(HOLIDAY_BASE + len(spec) + 1, "Company anniversary", "once", 6, 12, 0, once_year))
    return out


def make_clients_projects(
    rng: random.Random, n_clients: int, services: list[Service], first_day: date, anchor: date
) -> tuple[list[Client], list[Project]]:
    """The internal client (its own non-billable projects) plus `n_clients` customers with 2-4 projects."""
    admin, billable = services[-1].id, [s.id for s in services if s.billable and s.active]
    long_ago = first_day - timedelta(days=1500)
    clients = [Client(CLIENT_BASE + 1, "Couplet Agency (internal)", "C-000", True, True, 1, "Own work")]
    projects = [
        Project(PROJECT_BASE + 1, CLIENT_BASE + 1, "Internal", "P-0001", False, 0.0, long_ago,
                None, None, None, None, (admin,), None),
        Project(PROJECT_BASE + 2, CLIENT_BASE + 1, "Sales & pitches", "P-0002", False, 0.0, long_ago,
                None, None, None, None, (admin, billable[0] if billable else admin), None),
    ]  # fmt: skip
    span = (anchor - first_day).days
    for i in range(1, n_clients + 1):
        name = CLIENTS[(i - 1) % len(CLIENTS)] + (
            f" {(i - 1) // len(CLIENTS) + 1}" if i > len(CLIENTS) else ""
        )
        active = not (i == n_clients and n_clients >= 3)  # the last customer is archived
        note = "Key account" if i % 4 == 1 else None
        clients.append(Client(CLIENT_BASE + 1 + i, name, f"C-{i:03d}", active, False, 1 + i % 9, note))
        rate = 85.0 + 5 * rng.randrange(14)
        for pname in rng.sample(PROJECTS, 2 + rng.randrange(3)):
            pid = PROJECT_BASE + len(projects) + 1
            start = first_day - timedelta(days=300) + timedelta(days=rng.randrange(span + 240))
            completed = None
            if not active:
                start = min(start, anchor - timedelta(days=400))
                completed = start + timedelta(days=60 + rng.randrange(200))
            elif rng.random() < 0.3 and start + timedelta(days=130) < anchor:
                completed = min(start + timedelta(days=120 + rng.randrange(280)), anchor - timedelta(days=10))
            deadline = start + timedelta(days=90 + rng.randrange(270)) if rng.random() < 0.5 else None
            r = rng.random()
            hours = float(80 + 10 * rng.randrange(33)) if r < 0.4 else None
            money = float(5000 + 500 * rng.randrange(110)) if 0.4 <= r < 0.65 else None
            svc = tuple(sorted(rng.sample(billable, min(len(billable), 2 + rng.randrange(3))))) or (admin,)
            note = "Fixed price" if money else None
            projects.append(
                Project(pid, clients[-1].id, pname, f"P-{pid - PROJECT_BASE:04d}", True, rate, start,
                        completed, deadline, hours, money, svc, note)
            )  # fmt: skip
    return clients, projects


def make_people_teams(
    rng: random.Random,
    n_users: int,
    n_teams: int,
    owner_email: str,
    domain: str,
    projects: list[Project],
    first_day: date,
    anchor: date,
) -> tuple[list[Person], list[Team]]:
    """People (the first is the owner, without a team) and teams (leader = first member)."""
    founded = first_day - timedelta(days=3 * 365)
    combos = rng.sample(range(len(FIRST) * len(LAST)), min(n_users, len(FIRST) * len(LAST)))
    external = [p.id for p in projects if p.billable]
    people: list[Person] = []
    for idx in range(n_users):
        first, last = divmod(combos[idx % len(combos)], len(LAST))
        name = f"{FIRST[first]} {LAST[last]}" + (f" {idx // len(combos) + 1}" if idx >= len(combos) else "")
        pid = USER_BASE + 1 + idx
        email = owner_email if idx == 0 else f"{name.lower().replace(' ', '.')}@{domain}"
        start = founded + timedelta(days=rng.randrange(700) if idx else 0)  # the owner founded the agency
        exit_date = None
        if idx % 10 == 9:  # joined during the history window
            start = anchor - timedelta(days=60 + rng.randrange(300))
        if idx % 10 == 8:  # left during it
            exit_date = anchor - timedelta(days=30 + rng.randrange(200))
        schedules = [Schedule(0, pid, start, None, FULL_TIME)]
        if idx % 10 == 5:  # went part time
            switch = anchor - timedelta(days=200 + rng.randrange(200))
            part = (
                (8.0, 8.0, 8.0, 8.0, 0.0, 0.0, 0.0) if idx % 20 == 5 else (6.0, 6.0, 6.0, 6.0, 0.0, 0.0, 0.0)
            )
            schedules = [Schedule(0, pid, start, switch - timedelta(days=1), FULL_TIME),
                         Schedule(0, pid, switch, None, part)]  # fmt: skip
        team = None if idx == 0 else TEAM_BASE + 1 + (idx - 1) % max(1, n_teams)
        portfolio = (PROJECT_BASE + 1, PROJECT_BASE + 2, *sorted(rng.sample(external, min(len(external), 5 + rng.randrange(4)))))  # fmt: skip
        people.append(
            Person(pid, name, email, FIRST[first][0] + LAST[last][0], f"E-{idx + 1:03d}", team,
                   "owner" if idx == 0 else "worker", start, exit_date,
                   "Europe/Lisbon" if idx % 7 == 6 else "Europe/Berlin", "en" if idx % 4 == 3 else "de",
                   tuple(schedules), 30 if idx % 3 == 0 else 28, portfolio, start)
        )  # fmt: skip
    n = 0
    for i, p in enumerate(people):  # schedule ids are global and sequential
        rows = []
        for s in p.schedules:
            n += 1
            rows.append(Schedule(SCHEDULE_BASE + n, s.user_id, s.since, s.until, s.hours))
        people[i] = Person(**{**p.__dict__, "schedules": tuple(rows)})
    teams = []
    for t in range(min(n_teams, max(0, n_users - 1))):
        members = tuple(p.id for p in people if p.team_id == TEAM_BASE + 1 + t)
        name = TEAMS[t % len(TEAMS)] + (f" {t // len(TEAMS) + 1}" if t >= len(TEAMS) else "")
        teams.append(Team(TEAM_BASE + 1 + t, name, members[0] if members else None, members))
    return people, teams


def make_absences(
    seed: int, people: list[Person], holidays: dict[date, Holiday], years: range, anchor: date
) -> list[Absence]:
    """Vacations, sick days, home office... per person and year; never overlapping one another."""
    leaders: dict[int | None, int] = {}
    for p in people:
        leaders.setdefault(p.team_id, p.id)
    out: list[Absence] = []
    workdays: dict[int, list[date]] = {}
    for year in years:
        for p in people:
            rng = random.Random(f"{seed}:{p.id}:{year}")
            # team leaders approve their team; the owner approves leaders and himself
            approver = leaders[p.team_id] if leaders[p.team_id] != p.id else people[0].id
            if year not in workdays:
                days = [date(year, 1, 1) + timedelta(days=i) for i in range(366)]
                workdays[year] = [d for d in days if d.year == year and d.weekday() < 5 and d not in holidays]
            work = workdays[year]
            if not (p.employed(work[0]) and p.employed(work[-1])):
                work = [d for d in work if p.employed(d)]
            if not work:
                continue
            used: set[int] = set()
            plan = [("vacation", n) for n in (10, 5, 5, 3, 2, 2)]
            plan += [("sick", 1 + rng.randrange(4)) for _ in range(rng.randrange(4))]
            plan += [("sick_child", 1 + rng.randrange(3)) for _ in range(rng.randrange(2) if p.id % 3 else 0)]
            plan += [("home_office", 1) for _ in range(2 + rng.randrange(7))]
            plan += [("overtime_reduction", 1) for _ in range(rng.randrange(3))]
            plan += [("education", 2)] * (rng.random() < 0.3) + [("special_leave", 1)] * (rng.random() < 0.2)
            for kind, length in plan:
                for _ in range(20):  # retry until the block fits between earlier ones
                    i = rng.randrange(max(1, len(work) - length + 1))
                    span = set(range(i - 1, i + length + 1))
                    if i + length <= len(work) and not span & used:
                        used |= span
                        break
                else:
                    continue
                start, end = work[i], work[i + length - 1]
                status = "approved"
                if kind == "vacation" and start > anchor and rng.random() < 0.5:
                    status = "requested"
                elif kind == "vacation" and rng.random() < 0.05:
                    status = "declined"
                if kind.startswith("sick"):  # reported on the day or the next
                    requested = start + timedelta(days=rng.randrange(2))
                else:
                    requested = start - timedelta(days=7 + rng.randrange(60))
                approved = requested + timedelta(days=1 + rng.randrange(4)) if status == "approved" else None
                out.append(
                    Absence(ABSENCE_BASE + len(out) + 1, p.id, kind, start, end, status,
                            None if kind == "overtime_reduction" else float(length),
                            4.0 if kind == "overtime_reduction" else None, requested, approved,
                            approver if status != "requested" else None,
                            "Doctor's note handed in" if kind == "sick" and length > 2 else None)
                )  # fmt: skip
    return out
