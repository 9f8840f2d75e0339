#!/usr/bin/env python3
"""Recompute a programme's milestone indicators from a Masar export, independently of Masar.

Written from api/contract/INDICATORS.md (the rules behind `Query.indicators`) and the
export format of docs/event-encoding.md, with the Python standard library only. It reads the
JSON Lines written by `masar export events` (streamed, one line at a time) and prints, for one
programme and one period, the COUNT milestone indicators and FOLLOW_UP_RATE:

    python3 tools/recompute_indicators.py export.jsonl --programme AMUDDU-RSK \
        --from 2024-01-01 --to 2024-12-31 [--as-of 2024-12-31T23:59:59Z] [--json]

It does not check hashes or seals: run tools/verify_export.py on the same file first.

Rules applied (INDICATORS.md):
- an event named by a `Retracted` event of its stream is void and counts for nothing;
- with --as-of T, only events (and retractions) whose `recorded_at` <= T are used;
- the date of an event is the calendar date of its `occurred_at` in UTC;
- a beneficiary's milestone date is the date of the earliest non-void event reaching it;
  a beneficiary whose `Identified` event is void does not exist;
- attended all workshops: for each course with a non-void enrolment, the latest over sessions
  1..plannedSessions of each session's earliest non-void `WorkshopAttended` date (every
  session must have been attended); over several courses, the earliest such date;
- inserted: the earlier of the employed and business launched dates;
- followed up: the earliest non-void `FollowedUp` dated on or after the inserted date;
- a COUNT is the number of beneficiaries whose milestone date is in [from, to];
- FOLLOW_UP_RATE: D = beneficiaries inserted in [from, to]; numerator = those of D followed up
  on or before `to`; value = 100 * numerator / D (null when D = 0).

Defaults: --from is the programme's start date (from its `ProgrammeRegistered` event in the
export); --to is today (UTC), or with --as-of the date of --as-of in UTC.

Timestamps: a leap second (second 60, e.g. `2016-12-31T23:59:60Z`), which RFC 3339 allows
and a log written before Masar refused them may hold, reads as the last microsecond of its
minute (`…:59.999999`), so its date is that of the minute it ends, as Masar dates it.

Exit status: 0 on success, 2 on bad arguments or an export that cannot be used (not a
masar-events export, a partial export, a file cut short, a programme not in the export, a line
that cannot be read: reported as `line N: reason`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

# The COUNT milestone indicators, in the order of IndicatorCode, with the event type that
# reaches each simple milestone (None: derived, see Beneficiary.milestones).
COUNTS: list[tuple[str, str | None]] = [
    ("IDENTIFIED", "Identified"),
    ("SENSITISED", "Sensitised"),
    ("ENROLLED_IN_TRAINING", "TrainingEnrolled"),
    ("ATTENDED_ALL_WORKSHOPS", None),
    ("COMPLETED_TRAINING", "TrainingCompleted"),
    ("INCUBATED", "IncubationStarted"),
    ("BUSINESS_LAUNCHED", "BusinessLaunched"),
    ("EMPLOYED", "Employed"),
    ("INSERTED", None),
    ("FOLLOWED_UP", None),
]

# Event types that matter to these indicators; every other fact of a beneficiary is skipped.
RELEVANT = {
    "Identified",
    "Sensitised",
    "TrainingEnrolled",
    "WorkshopAttended",
    "TrainingCompleted",
    "IncubationStarted",
    "BusinessLaunched",
    "Employed",
    "FollowedUp",
    "Retracted",
}


class ExportError(Exception):
    """The export cannot be used."""


# Date, hour and minute of an RFC 3339 instant at a leap second, and its fraction if any.
LEAP_SECOND = re.compile(r"(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}):60(\.\d+)?")


def parse_instant(text: str) -> datetime:
    """An RFC 3339 instant (`Z` or an offset), as an aware datetime in UTC.

    A leap second (second 60) is read as the last microsecond of its minute, `…:59.999999`:
    Python's datetime has no second 60. Masar (chrono) keeps it as second 59 plus more than a
    second's nanoseconds, so both put it on the same calendar date, after every earlier instant
    Masar records (to the microsecond) and before the next minute."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    leap = LEAP_SECOND.match(value)
    if leap:
        value = f"{leap.group(1)}:59.999999{value[leap.end():]}"
    # datetime holds microseconds: cut longer fractions (never rounding up past T).
    if "." in value:
        head, rest = value.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z or an offset)")
    return instant.astimezone(timezone.utc)


@dataclass
class Fact:
    """One beneficiary event, reduced to what the indicators need."""

    event_id: str
    kind: str
    day: date  # date of occurred_at in UTC
    recorded_at: datetime
    body: dict


@dataclass
class Stream:
    """One beneficiary's stream."""

    facts: list[Fact] = field(default_factory=list)


# What each relevant fact needs of its body, and of which type; checked as the line is read,
# so that a line lacking one is named rather than failing later.
NEEDS: dict[str, tuple[tuple[str, type], ...]] = {
    "Identified": (("programme_code", str),),
    "TrainingEnrolled": (("course_code", str), ("planned_sessions", int)),
    "WorkshopAttended": (("course_code", str), ("session_number", int)),
    "Retracted": (("retracted_event_id", str),),
}


JSON_TYPES = {dict: "an object", str: "a string", int: "an integer"}


def member(record: dict, name: str, kind: type, where: str = ""):
    """`record[name]`, which must be a `kind` (a bool is no int)."""
    if not isinstance(record, dict):
        raise ValueError(f"{where or 'the line'} is not a JSON object")
    if name not in record:
        raise ValueError(f"{where}{name} is missing")
    value = record[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where}{name} is {value!r}, not {JSON_TYPES[kind]}")
    return value


def instant(record: dict, name: str, where: str = "") -> datetime:
    """`record[name]`, an RFC 3339 instant."""
    text = member(record, name, str, where)
    try:
        return parse_instant(text)
    except ValueError as error:
        raise ValueError(f"{where}{name} {text!r} is not an RFC 3339 instant ({error})") from None


class ExportReader:
    """Reads an export line by line: its header, every beneficiary stream's relevant facts,
    each programme's start date, and the highest global position read."""

    def __init__(self) -> None:
        self.streams: dict[str, Stream] = {}
        self.starts: dict[str, date] = {}
        self.header: dict | None = None
        self.trailer: dict | None = None
        self.events = 0
        self.head = 0

    def line(self, number: int, text: str) -> None:
        """Reads one line; raises ValueError (or ExportError) saying what is wrong with it."""
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON ({error})") from None
        except RecursionError:
            raise ValueError("not JSON (nested too deeply)") from None
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        kind = record.get("record")
        if number == 1:
            if kind != "header" or record.get("format") != "masar-events":
                raise ExportError("line 1 is not the header of a masar-events export")
            after = record.get("after", 0)
            if after != 0:
                raise ExportError(
                    f"partial export (after {after}): indicators need the whole "
                    "log, export it without --after"
                )
            self.header = record
            return
        if self.trailer is not None:
            raise ValueError("after the trailer")
        if kind == "end":
            self.trailer = record
            return
        if kind != "event":
            return  # seals: tools/verify_export.py checks them
        self.events += 1
        self.head = max(self.head, member(record, "global_position", int))
        payload = member(record, "payload", dict)
        fact = payload.get("fact")
        if not isinstance(fact, dict) or len(fact) != 1:
            return
        ((name, body),) = fact.items()
        aggregate_type = member(record, "aggregate_type", str)
        if aggregate_type == "Programme":
            if name == "ProgrammeRegistered":
                where = "payload.fact.ProgrammeRegistered."
                code = member(body, "code", str, where)
                start = member(body, "start_date", str, where)
                try:
                    self.starts[code] = date.fromisoformat(start)
                except ValueError as error:
                    raise ValueError(f"{where}start_date {start!r}: {error}") from None
            return
        if aggregate_type != "Beneficiary" or name not in RELEVANT:
            return
        where = f"payload.fact.{name}."
        needed = {key: member(body, key, kind, where) for key, kind in NEEDS.get(name, ())}
        self.streams.setdefault(member(record, "aggregate_id", str), Stream()).facts.append(
            Fact(
                event_id=member(payload, "event_id", str, "payload."),
                kind=name,
                day=instant(payload, "occurred_at", "payload.").date(),
                recorded_at=instant(record, "recorded_at"),
                body=needed,
            )
        )


def read_export(path: str) -> tuple[dict, dict[str, Stream], dict[str, date], int]:
    """Streams the export: its header, every beneficiary stream's relevant facts, each
    programme's start date, and the highest global position read. A line that cannot be read
    raises ExportError naming it: `line N: reason`."""
    reader = ExportReader()
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ExportError(f"line {number}: not UTF-8 ({error})") from None
            if not text.strip():
                continue
            try:
                reader.line(number, text)
            except ValueError as error:
                raise ExportError(f"line {number}: {error}") from None
    if reader.header is None:
        raise ExportError("the file is empty")
    if reader.trailer is None:
        raise ExportError("no trailer line: the export was cut short")
    if reader.trailer.get("events") != reader.events:
        raise ExportError(
            f"the trailer counts {reader.trailer.get('events')} events, the file holds "
            f"{reader.events}"
        )
    return reader.header, reader.streams, reader.starts, reader.head


def earliest(dates) -> date | None:
    dates = list(dates)
    return min(dates) if dates else None


def milestones(
    stream: Stream, as_of: datetime | None
) -> tuple[str, dict[str, date | None]] | None:
    """The programme and milestone dates of one beneficiary, from what was known at `as_of`;
    None if the beneficiary does not exist (no non-void identification)."""
    known = [f for f in stream.facts if as_of is None or f.recorded_at <= as_of]
    void = {f.body["retracted_event_id"] for f in known if f.kind == "Retracted"}
    live = [f for f in known if f.kind != "Retracted" and f.event_id not in void]
    identifications = sorted((f for f in live if f.kind == "Identified"), key=lambda f: f.day)
    if not identifications:
        return None
    programme = identifications[0].body["programme_code"]

    def first(kind: str) -> date | None:
        return earliest(f.day for f in live if f.kind == kind)

    dates: dict[str, date | None] = {code: first(kind) for code, kind in COUNTS if kind}

    # Attended all workshops.
    planned: dict[str, tuple[date, int]] = {}  # course -> (enrolment date, planned sessions)
    for f in live:
        if f.kind == "TrainingEnrolled":
            course = f.body["course_code"]
            if course not in planned or f.day < planned[course][0]:
                planned[course] = (f.day, int(f.body["planned_sessions"]))
    attended: dict[tuple[str, int], date] = {}
    for f in live:
        if f.kind == "WorkshopAttended":
            key = (f.body["course_code"], int(f.body["session_number"]))
            if key not in attended or f.day < attended[key]:
                attended[key] = f.day
    completions = []
    for course, (_, sessions) in planned.items():
        days = [attended.get((course, n)) for n in range(1, sessions + 1)]
        if sessions > 0 and all(d is not None for d in days):
            completions.append(max(days))
    dates["ATTENDED_ALL_WORKSHOPS"] = earliest(completions)

    inserted = earliest(d for d in (dates["EMPLOYED"], dates["BUSINESS_LAUNCHED"]) if d)
    dates["INSERTED"] = inserted
    dates["FOLLOWED_UP"] = (
        earliest(f.day for f in live if f.kind == "FollowedUp" and f.day >= inserted)
        if inserted
        else None
    )
    return programme, dates


def compute(
    streams: dict[str, Stream],
    programme: str,
    start: date,
    end: date,
    as_of: datetime | None,
) -> list[dict]:
    """The indicators, as `Query.indicators` names them."""
    counts = {code: 0 for code, _ in COUNTS}
    denominator = numerator = 0
    for stream in streams.values():
        found = milestones(stream, as_of)
        if found is None or found[0] != programme:
            continue
        dates = found[1]
        for code in counts:
            day = dates[code]
            if day is not None and start <= day <= end:
                counts[code] += 1
        inserted = dates["INSERTED"]
        if inserted is not None and start <= inserted <= end:
            denominator += 1
            followed = dates["FOLLOWED_UP"]
            if followed is not None and followed <= end:
                numerator += 1
    rows = [
        {
            "code": code,
            "kind": "COUNT",
            "value": counts[code],
            "numerator": counts[code],
            "denominator": None,
        }
        for code, _ in COUNTS
    ]
    rows.append(
        {
            "code": "FOLLOW_UP_RATE",
            "kind": "PERCENTAGE",
            "value": 100.0 * numerator / denominator if denominator else None,
            "numerator": numerator,
            "denominator": denominator,
        }
    )
    return rows


def show(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Recompute a programme's milestone indicators from a "
        "`masar export events` file (api/contract/INDICATORS.md).",
    )
    parser.add_argument("export", help="the JSON Lines export")
    parser.add_argument("--programme", required=True, help="programme code, e.g. AMUDDU-RSK")
    parser.add_argument(
        "--from", dest="start", help="first day, YYYY-MM-DD (default: the programme's start date)"
    )
    parser.add_argument(
        "--to", dest="end", help="last day, YYYY-MM-DD (default: today UTC, or the date of --as-of)"
    )
    parser.add_argument(
        "--as-of", help="RFC 3339 instant: use only what was recorded at or before it"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    try:
        as_of = parse_instant(args.as_of) if args.as_of else None
        start = date.fromisoformat(args.start) if args.start else None
        end = date.fromisoformat(args.end) if args.end else None
    except ValueError as error:
        parser.error(str(error))

    try:
        header, streams, starts, head = read_export(args.export)
    except OSError as error:
        print(f"error: {args.export}: {error.strerror or error}", file=sys.stderr)
        return 2
    except ExportError as error:
        print(f"error: {args.export}: {error}", file=sys.stderr)
        return 2

    if start is None:
        if args.programme not in starts:
            print(
                f"error: no ProgrammeRegistered event of {args.programme} in the export: "
                "give --from",
                file=sys.stderr,
            )
            return 2
        start = starts[args.programme]
    if end is None:
        end = (as_of or datetime.now(timezone.utc)).date()
    if start > end:
        parser.error(f"--from {start} is after --to {end}")

    rows = compute(streams, args.programme, start, end, as_of)
    report = {
        "programmeCode": args.programme,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "asOf": args.as_of,
        "exportHead": head,
        "exportedAt": header.get("exported_at"),
        "indicators": rows,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    as_of_text = f", as of {args.as_of}" if as_of else ""
    print(f"programme {args.programme}, period {start} to {end}{as_of_text}")
    print(f"export head {head}, exported at {header.get('exported_at')}")
    print()
    print(f"{'indicator':<24} {'kind':<10} {'value':>8} {'numerator':>9} {'denominator':>11}")
    for row in rows:
        print(
            f"{row['code']:<24} {row['kind']:<10} {show(row['value']):>8} "
            f"{show(row['numerator']):>9} {show(row['denominator']):>11}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
