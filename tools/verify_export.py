#!/usr/bin/env python3
"""Check a `masar export events` file independently of Masar.

Written from docs/event-encoding.md alone ("The fields", "Canonical JSON", "Seals", "Export
format"): it recomputes every event's hash, checks every link and sequence of every stream's
chain, recomputes every seal's digest from the stream heads at the seal's position and checks
its Ed25519 signature and public key, and checks the header and the trailer.

    python3 tools/verify_export.py EXPORT.jsonl [--public-key HEX]...
    masar export events | python3 tools/verify_export.py -

Python 3.11 or newer, the standard library, and the `cryptography` package for Ed25519
(`pip install -r tools/requirements.txt`). The file is read line by line: memory grows with the
number of streams, not of events.

Timestamps are checked as text and hashed as stored: an event dated at a leap second (second
60, which RFC 3339 allows and a log written before Masar refused them may hold) verifies like
any other.

Exit status: 0 when everything verifies, 1 when anything is wrong (each problem is printed
with its line, stream and sequence; a line that cannot be read at all as `line N:
MALFORMED_LINE: reason`), 2 on a usage error or an unreadable file.
"""

import argparse
import hashlib
import json
import re
import sys
import time

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover - reported in main()
    Ed25519PublicKey = None
    InvalidSignature = Exception

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

FORMAT = "masar-events"
VERSION = 1
SEAL_TEXT_VERSION = 1

RECORDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
HASH = re.compile(r"[0-9a-f]{64}")
SIGNATURE = re.compile(r"[0-9a-f]{128}")

PROGRESS_EVERY_SECONDS = 10.0


# --- The encoding (docs/event-encoding.md) -------------------------------------------------


def canonical(value):
    """Canonical JSON text: no white space, object members sorted by key, strings escaped
    only as the document says (json.dumps escapes exactly ", \\, \\b \\f \\n \\r \\t and
    other characters below U+0020 as \\u00xx, and writes everything else as itself when
    ensure_ascii is off), integers in plain decimal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text):
    """Lower-case hex SHA-256 of the UTF-8 bytes of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def event_hash(event):
    """The hash of an event: SHA-256 of the canonical nine-element array."""
    return sha256_hex(
        canonical(
            [
                event["previous_hash"],
                event["aggregate_type"],
                event["aggregate_id"],
                event["sequence"],
                event["event_type"],
                event["event_version"],
                event["payload"],
                event["metadata"],
                event["recorded_at"],
            ]
        )
    )


def seal_digest(position, heads, order):
    """The digest of a seal at `position`: SHA-256 of the seal text, one canonical array per
    line, each followed by a line feed. `heads` maps (aggregate_type, aggregate_id) to the
    stream's (sequence, hash) at `position`; `order` lists those keys sorted. Python compares
    strings by code point, which is the order of their UTF-8 bytes, and tuples field by field:
    by aggregate_type, then aggregate_id, as the document requires."""
    digest = hashlib.sha256()
    digest.update((canonical(["masar-seal", SEAL_TEXT_VERSION, position]) + "\n").encode("utf-8"))
    for key in order:
        sequence, head_hash = heads[key]
        line = canonical([key[0], key[1], sequence, head_hash]) + "\n"
        digest.update(line.encode("utf-8"))
    return digest.hexdigest()


def is_int(value):
    """A JSON integer (not a boolean, which Python counts as an int)."""
    return type(value) is int


# --- The checker ---------------------------------------------------------------------------


class Problems:
    """Problems, printed as they are found, up to a limit; the rest are counted."""

    def __init__(self, limit, out):
        self.limit = limit
        self.out = out
        self.count = 0

    def add(self, line, kind, detail, stream=None, sequence=None):
        self.count += 1
        if self.count > self.limit:
            return
        where = f"line {line}: {kind}"
        if stream is not None:
            where += f": {stream[0]} {stream[1]}"
            if sequence is not None:
                where += f" sequence {sequence}"
        print(f"{where}: {detail}", file=self.out)

    @property
    def unlisted(self):
        return max(0, self.count - self.limit)


class ExportChecker:
    """Reads an export's lines in order and checks them ("Checking an export")."""

    def __init__(self, trusted_keys, problems):
        self.trusted_keys = trusted_keys  # None when no --public-key was given
        self.problems = problems
        self.header = None
        self.after = 0
        self.partial = False
        self.trailer_line = None
        # Per stream: its last (sequence, hash). Keys sorted for the digests: `order` is
        # sorted, `new_keys` came since the last seal.
        self.heads = {}
        self.order = []
        self.new_keys = []
        self.continued_streams = 0
        self.events = 0
        self.seals = 0
        self.last_position = None  # the last event's global_position
        self.last_seal = None  # the last seal's position
        self.events_after_last_seal = 0
        self.keys_seen = set()
        self.digests_checked = 0
        self.signatures_checked = 0
        self.lines = 0

    # One line --------------------------------------------------------------------------

    def line(self, number, raw):
        self.lines = number
        problems = self.problems
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            problems.add(number, "MALFORMED_LINE", f"not UTF-8 ({error})")
            return
        if not text.strip():
            problems.add(number, "MALFORMED_LINE", "an empty line")
            return
        non_integer = []

        def parse_float(literal):
            non_integer.append(literal)
            return float(literal)

        def parse_constant(name):
            raise ValueError(f"{name} is not JSON")

        try:
            record = json.loads(text, parse_float=parse_float, parse_constant=parse_constant)
        except ValueError as error:
            problems.add(number, "MALFORMED_LINE", f"not valid JSON ({error})")
            return
        except RecursionError:
            problems.add(number, "MALFORMED_LINE", "not valid JSON (nested too deeply)")
            return
        if not isinstance(record, dict):
            problems.add(number, "MALFORMED_LINE", "not a JSON object")
            return
        kind = record.get("record")
        if self.trailer_line is not None:
            problems.add(
                number,
                "TRAILER",
                f"a line follows the trailer of line {self.trailer_line}: the trailer must be "
                "the last line",
            )
        if number == 1:
            if kind != "header":
                problems.add(
                    number,
                    "HEADER",
                    f"the first line must be the header, not a {kind!r} record; checking the "
                    "rest as a whole export",
                )
            else:
                self.check_header(number, record)
                return
        if kind == "event":
            self.check_event(number, record, non_integer)
        elif kind == "seal":
            self.check_seal(number, record)
        elif kind == "end":
            self.check_trailer(number, record)
        elif kind == "header":
            problems.add(
                number, "HEADER", "a second header: the header must be the first line only"
            )
        else:
            problems.add(number, "MALFORMED_LINE", f"unknown record {kind!r}")

    # Header and trailer ------------------------------------------------------------------

    def check_header(self, number, record):
        self.header = record
        problems = self.problems
        if record.get("format") != FORMAT:
            problems.add(number, "HEADER", f"format is {record.get('format')!r}, not {FORMAT!r}")
        if record.get("version") != VERSION or not is_int(record.get("version")):
            problems.add(
                number,
                "HEADER",
                f"version is {record.get('version')!r}: this checker knows version {VERSION} only",
            )
        after = record.get("after")
        if not is_int(after) or after < 0:
            problems.add(number, "HEADER", f"after is {after!r}, not an integer of 0 or more")
        else:
            self.after = after
            self.partial = after > 0
        head = record.get("head")
        if not is_int(head) or head < 0:
            problems.add(number, "HEADER", f"head is {head!r}, not an integer of 0 or more")
        if not isinstance(record.get("exported_at"), str):
            problems.add(number, "HEADER", "exported_at is missing")

    def check_trailer(self, number, record):
        self.trailer_line = number
        for member, counted in (("events", self.events), ("seals", self.seals)):
            value = record.get(member)
            if value != counted or not is_int(value):
                self.problems.add(
                    number,
                    "TRAILER",
                    f"the trailer counts {value!r} {member} but {counted} {member[:-1]} lines "
                    "were read: lines were removed or added",
                )

    def finish(self):
        """The checks that need the whole file."""
        problems = self.problems
        if self.lines == 0:
            problems.add(1, "HEADER", "the file is empty: not even a header")
            return
        if self.trailer_line is None:
            problems.add(
                self.lines,
                "TRAILER",
                'no trailer ({"record":"end",...}) after the last line: the export was cut short',
            )
        head = self.header.get("head") if self.header is not None else None
        last = self.last_position if self.last_position is not None else 0
        if is_int(head) and head != last:
            problems.add(
                1,
                "HEAD",
                f"the header says the export ends at position {head}, but its last event is at "
                f"position {last}: events at the end were removed or added",
            )

    # Events ------------------------------------------------------------------------------

    def check_event(self, number, event, non_integer):
        problems = self.problems
        self.events += 1
        error = event_shape_error(event)
        if error is not None:
            problems.add(number, "MALFORMED_EVENT", error)
            return
        stream = (event["aggregate_type"], event["aggregate_id"])
        sequence = event["sequence"]
        position = event["global_position"]

        # Global order: after the header's `after`, increasing, beyond every seal before it.
        if position <= self.after:
            problems.add(
                number,
                "EVENT_ORDER",
                f"global_position {position} is not after the export's start, {self.after}",
                stream,
                sequence,
            )
        if self.last_position is not None and position <= self.last_position:
            problems.add(
                number,
                "EVENT_ORDER",
                f"global_position {position} does not follow the previous event's, "
                f"{self.last_position}",
                stream,
                sequence,
            )
        if self.last_seal is not None and position <= self.last_seal:
            problems.add(
                number,
                "EVENT_ORDER",
                f"global_position {position} is covered by the seal at position "
                f"{self.last_seal} before it: an event inserted at an old position",
                stream,
                sequence,
            )
        self.last_position = position if self.last_position is None else max(
            position, self.last_position
        )
        if self.last_seal is not None:
            self.events_after_last_seal += 1

        # The chain: sequence and link.
        head = self.heads.get(stream)
        if head is None:
            if sequence == 1:
                if event["previous_hash"] is not None:
                    problems.add(
                        number,
                        "BROKEN_LINK",
                        f"the first event of the stream has previous_hash "
                        f"{event['previous_hash']}, not null",
                        stream,
                        sequence,
                    )
            elif self.partial:
                # Continues a chain the export does not hold: its link cannot be checked.
                self.continued_streams += 1
            else:
                problems.add(
                    number,
                    "SEQUENCE_GAP",
                    missing(1, sequence) + " (the stream starts at sequence "
                    f"{sequence} in this export)",
                    stream,
                    1,
                )
            self.new_keys.append(stream)
        else:
            last_sequence, last_hash = head
            if sequence == last_sequence + 1:
                if event["previous_hash"] != last_hash:
                    problems.add(
                        number,
                        "BROKEN_LINK",
                        f"previous_hash {event['previous_hash']} is not the hash of sequence "
                        f"{last_sequence}, {last_hash}",
                        stream,
                        sequence,
                    )
            elif sequence > last_sequence + 1:
                problems.add(
                    number,
                    "SEQUENCE_GAP",
                    missing(last_sequence + 1, sequence),
                    stream,
                    last_sequence + 1,
                )
            else:
                problems.add(
                    number,
                    "SEQUENCE_ORDER",
                    f"sequence {sequence} comes after sequence {last_sequence}: repeated or "
                    "out of order",
                    stream,
                    sequence,
                )

        # The event's own hash.
        if not RECORDED_AT.fullmatch(event["recorded_at"]):
            problems.add(
                number,
                "RECORDED_AT_FORMAT",
                f"recorded_at {event['recorded_at']!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ",
                stream,
                sequence,
            )
        if non_integer:
            problems.add(
                number,
                "NUMBER_FORMAT",
                f"the line holds non-integer numbers ({', '.join(non_integer[:3])}), which the "
                "encoding does not define",
                stream,
                sequence,
            )
        try:
            recomputed = event_hash(event)
        except UnicodeEncodeError:
            problems.add(
                number,
                "MALFORMED_EVENT",
                "a string holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text",
                stream,
                sequence,
            )
            recomputed = None
        if recomputed is not None and recomputed != event["hash"]:
            problems.add(
                number,
                "HASH_MISMATCH",
                f"the stored hash {event['hash']} differs from the hash recomputed from the "
                f"event's fields, {recomputed}",
                stream,
                sequence,
            )
        self.heads[stream] = (sequence, event["hash"])

    # Seals -------------------------------------------------------------------------------

    def check_seal(self, number, seal):
        problems = self.problems
        self.seals += 1
        error = seal_shape_error(seal)
        if error is not None:
            problems.add(number, "MALFORMED_SEAL", error)
            return
        position = seal["position"]
        where = f"seal at position {position}"
        if position <= self.after:
            problems.add(
                number,
                "SEAL_ORDER",
                f"{where} is not after the export's start, {self.after}",
            )
        if self.last_seal is not None and position <= self.last_seal:
            problems.add(
                number,
                "SEAL_ORDER",
                f"{where} does not follow the previous seal's position, {self.last_seal}",
            )
        if self.last_position is not None and self.last_position > position:
            problems.add(
                number,
                "SEAL_ORDER",
                f"{where} comes after the event at position {self.last_position}, beyond it",
            )
        self.last_seal = position if self.last_seal is None else max(position, self.last_seal)
        self.events_after_last_seal = 0

        # The digest, recomputed from the heads kept so far: the heads at `position`.
        if not self.partial:
            self.digests_checked += 1
            if self.new_keys:
                self.new_keys.sort()
                self.order.extend(self.new_keys)
                self.order.sort()  # two sorted runs: merged in linear time
                self.new_keys = []
            held = len(self.order)
            recomputed = seal_digest(position, self.heads, self.order)
            if held != seal["streams"]:
                problems.add(
                    number,
                    "SEAL_DIGEST",
                    f"{where} covers {seal['streams']} streams but the export holds "
                    f"{held} up to it: "
                    + (
                        f"{seal['streams'] - held} stream(s) deleted"
                        if held < seal["streams"]
                        else f"{held - seal['streams']} stream(s) inserted"
                    ),
                )
            elif recomputed != seal["digest"]:
                problems.add(
                    number,
                    "SEAL_DIGEST",
                    f"{where}: the digest recomputed from the {held} stream heads up to it, "
                    f"{recomputed}, differs from the sealed digest {seal['digest']}: a stream's "
                    "last events were removed, or a stream was rewritten or replaced",
                )

        # The signature, and whose key made it.
        key_hex = seal["public_key"]
        self.keys_seen.add(key_hex)
        self.signatures_checked += 1
        if not signature_valid(key_hex, seal["signature"], seal["digest"]):
            problems.add(
                number,
                "SEAL_SIGNATURE",
                f"{where}: the signature does not verify with the seal's public key {key_hex}",
            )
        if self.trusted_keys is not None and key_hex not in self.trusted_keys:
            problems.add(
                number,
                "UNTRUSTED_KEY",
                f"{where} is signed with public key {key_hex}, not a trusted one",
            )

    # Summary -----------------------------------------------------------------------------

    def summary(self, seconds):
        lines = []
        rate = self.events / seconds if seconds > 0 else float(self.events)
        scope = (
            f"partial export after position {self.after}"
            if self.partial
            else "whole export"
        )
        status = "OK" if self.problems.count == 0 else "FAILED"
        lines.append(
            f"{status}: {self.events} events in {len(self.heads)} streams and {self.seals} "
            f"seals checked ({scope}, up to position {self.last_position or 0}) in "
            f"{seconds:.1f} s ({rate:.0f} events/s)"
        )
        if self.problems.count:
            listed = self.problems.count - self.problems.unlisted
            more = (
                f", {self.problems.unlisted} more not listed" if self.problems.unlisted else ""
            )
            lines.append(f"{self.problems.count} problem(s) found ({listed} listed above{more})")
        if self.seals == 0:
            lines.append(
                "note: the export holds no seal, so a deleted stream, a stream's removed last "
                "events or a cut-off end of the log cannot be detected"
            )
        elif self.trusted_keys is None:
            keys = ", ".join(sorted(self.keys_seen))
            lines.append(
                f"note: seals were checked against the public key they carry ({keys}), not "
                "against one you trust: this proves nothing about who signed them; pass "
                "--public-key with the key obtained from the operator independently of the "
                "database"
            )
        else:
            trusted = ", ".join(sorted(self.trusted_keys))
            lines.append(f"seals checked against the trusted public key(s): {trusted}")
        if self.events_after_last_seal and self.seals:
            lines.append(
                f"note: the last {self.events_after_last_seal} event(s), after the last seal "
                f"(position {self.last_seal}), are covered by no seal"
            )
        if self.partial:
            lines.append(
                f"note: partial export: the first event of {self.continued_streams} stream(s) "
                "continues a chain outside the export (its sequence and previous_hash were not "
                "checked), and "
                f"the digests of {self.seals} seal(s) were not recomputed, only their signatures "
                "checked; auditors check a whole export"
            )
        return "\n".join(lines)


def missing(first, found):
    if found - first == 1:
        return f"event {first} is missing (the next event found is {found})"
    return f"events {first} to {found - 1} are missing (the next event found is {found})"


def event_shape_error(event):
    """Why an event line lacks a documented member or has one of the wrong type, or None."""
    expected = (
        ("global_position", is_int),
        ("aggregate_type", lambda v: isinstance(v, str)),
        ("aggregate_id", lambda v: isinstance(v, str)),
        ("sequence", lambda v: is_int(v) and v >= 1),
        ("event_type", lambda v: isinstance(v, str)),
        ("event_version", lambda v: isinstance(v, str)),
        ("payload", lambda v: isinstance(v, dict)),
        ("metadata", lambda v: isinstance(v, dict)),
        ("recorded_at", lambda v: isinstance(v, str)),
        ("previous_hash", lambda v: v is None or isinstance(v, str)),
        ("hash", lambda v: isinstance(v, str)),
    )
    for member, valid in expected:
        if member not in event:
            return f"an event without {member}"
        if not valid(event[member]):
            return f"an event whose {member} is {event[member]!r}"
    return None


def seal_shape_error(seal):
    """Why a seal line lacks a documented member or has one of the wrong form, or None."""
    expected = (
        ("position", lambda v: is_int(v) and v >= 1, "an integer of 1 or more"),
        ("streams", lambda v: is_int(v) and v >= 0, "an integer of 0 or more"),
        ("digest", lambda v: isinstance(v, str) and HASH.fullmatch(v), "64 lower-case hex digits"),
        (
            "signature",
            lambda v: isinstance(v, str) and SIGNATURE.fullmatch(v),
            "128 lower-case hex digits",
        ),
        (
            "public_key",
            lambda v: isinstance(v, str) and HASH.fullmatch(v),
            "64 lower-case hex digits",
        ),
        ("sealed_at", lambda v: isinstance(v, str), "a string"),
    )
    for member, valid, what in expected:
        if member not in seal:
            return f"a seal without {member}"
        if not valid(seal[member]):
            return f"a seal whose {member} is {seal[member]!r}, not {what}"
    return None


_keys = {}


def signature_valid(public_key_hex, signature_hex, digest_hex):
    """Whether `signature` is the Ed25519 signature of the digest's 32 bytes by the key."""
    key = _keys.get(public_key_hex)
    if key is None:
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        except ValueError:
            return False
        _keys[public_key_hex] = key
    try:
        key.verify(bytes.fromhex(signature_hex), bytes.fromhex(digest_hex))
        return True
    except InvalidSignature:
        return False


# --- Command line --------------------------------------------------------------------------


def public_key(text):
    value = text.strip().lower()
    if not HASH.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an Ed25519 public key (64 hex digits, as `masar seal "
            "--public-key` prints it)"
        )
    return value


def positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="verify_export.py",
        description="Check a `masar export events` file (JSON Lines) against "
        "docs/event-encoding.md: every hash, link and sequence, every seal's digest and "
        "signature, the header and the trailer. Exit 0 when everything verifies, 1 when "
        "anything is wrong, 2 on a usage error or an unreadable file.",
    )
    parser.add_argument("export", help="the export file, or - for standard input")
    parser.add_argument(
        "--public-key",
        action="append",
        type=public_key,
        metavar="HEX",
        help="a seal public key you trust, obtained independently of the database (e.g. "
        "from `masar seal --public-key` run by the operator in your presence); may be "
        "repeated. Seals signed by any other key are reported. Without it, seals are checked "
        "only against the key they carry, which proves nothing about who signed them.",
    )
    parser.add_argument(
        "--max-problems",
        type=positive,
        default=100,
        metavar="N",
        help="list at most N problems (the rest are counted); default 100",
    )
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    if Ed25519PublicKey is None:
        print(
            "verify_export.py: the `cryptography` package is needed to check Ed25519 seal "
            "signatures: pip install -r tools/requirements.txt",
            file=sys.stderr,
        )
        return EXIT_USAGE
    trusted = set(arguments.public_key) if arguments.public_key else None
    try:
        source = (
            sys.stdin.buffer if arguments.export == "-" else open(arguments.export, "rb")
        )
    except OSError as error:
        print(
            f"verify_export.py: cannot read {arguments.export}: {error.strerror}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    problems = Problems(arguments.max_problems, sys.stdout)
    checker = ExportChecker(trusted, problems)
    started = time.monotonic()
    next_progress = started + PROGRESS_EVERY_SECONDS
    try:
        with source:
            for number, raw in enumerate(source, start=1):
                try:
                    checker.line(number, raw)
                except Exception as error:  # noqa: BLE001 - a line no check foresaw
                    # Reported with its line like any other problem, never a traceback; the
                    # checking goes on with the next line.
                    problems.add(
                        number,
                        "MALFORMED_LINE",
                        f"cannot be read ({type(error).__name__}: {error})",
                    )
                if number % 4096 == 0 and time.monotonic() >= next_progress:
                    next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS
                    print(
                        f"verify_export.py: {checker.events} events checked…",
                        file=sys.stderr,
                        flush=True,
                    )
    except OSError as error:
        print(
            f"verify_export.py: cannot read {arguments.export} after line {checker.lines}: "
            f"{error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    checker.finish()
    print(checker.summary(time.monotonic() - started))
    return EXIT_OK if problems.count == 0 else EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
