"""Sanctions lists and name screening.

**Import** (:func:`sanctions_import`): the UN Security Council consolidated list XML
(``CONSOLIDATED_LIST`` with ``INDIVIDUALS/INDIVIDUAL`` and ``ENTITIES/ENTITY``), parsed by
lxml with entities, DTDs and the network switched off. Each import is a new list version
that replaces the active one in one transaction; a bad file raises
:class:`SanctionsFileError` with what is wrong and the previous list stays active.

**Matching** (:func:`names_match`): every name is normalised the same way: transliterated
to ASCII with anyascii (Cyrillic, Arabic and other scripts; an entry's
``NAME_ORIGINAL_SCRIPT`` is one of its names), casefolded, punctuation stripped, tokens
sorted. Scoring uses rapidfuzz, the better of two measures when both names have at least
two tokens: ``token_sort_ratio`` (the same names in any order, spelling differences
spread over the whole name) and a token alignment (each token of the shorter name paired
with its closest unused token of the longer one by ``ratio``, averaged): it scores a
customer who gives two or three of a listed person's four names, each possibly misspelt,
as high as those names deserve, and the listed name's extra tokens cost nothing.
``token_set_ratio`` and ``WRatio`` were tried and not chosen: both give 100 to any name
whose tokens are a subset (one common first name plus an unrelated surname scores
highly through the intersection) and score a misspelt subset low. A one-token name is
compared whole (``ratio``) so that one common name ("Ali") does not match every entry
containing it. The threshold (0-100) is the
``sanctions_screening`` rule's parameter (default :data:`DEFAULT_THRESHOLD`).

**Blocking**: a list is indexed in memory once per process and list version (an inverted
index of each name token and its consonant skeleton, which survives vowel misspellings:
"Usama"/"Osama", "Laden"/"Ladin"), so a name is scored only against entries sharing a key,
never against the whole list.

**Screening**: a hit records which entry and which of its names matched, both normalised
forms, the scorer, the score and the threshold (:class:`SanctionsHit`); the subject's own
normalised name is personal data, sealed (``subject_name_ct``: with the customer's own key,
so erasing them erases it too; a beneficiary's under the keyring); an open hit makes
the ``sanctioned_party`` inline rule refuse the customer's payments until compliance
dismisses it. Customers are screened at KYC approval (tier 2 and above) and all of them
after each import (:func:`customers_screen`); remittance beneficiaries inline
(:func:`beneficiary_screen`).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from anyascii import anyascii
from django.conf import settings
from django.db import transaction
from lxml import etree
from rapidfuzz import fuzz

from lightway.application.aml import inline
from lightway.application.aml.alerts import AlertInput, alert_raise
from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import ValidationFailed
from lightway.application.identity.profiles import profile_pii
from lightway.data.aml.models import RuleVersion, SanctionsEntry, SanctionsHit, SanctionsList
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Profile, Realm
from lightway.infrastructure.jobs import job_enqueue
from lightway.security.crypto import PersonDataErased, decrypt, encrypt
from lightway.security.personkeys import person_encrypt

DEFAULT_THRESHOLD = 88.0
SCORER = "max(token_sort_ratio,token_alignment)"
MAX_FILE_BYTES = 64 * 1024 * 1024
SCREENING_RULE_KIND = "sanctions_screening"


class SanctionsFileError(ValidationFailed):
    """The file is not a usable consolidated list (the message says why)."""


# --- normalisation -------------------------------------------------------------------------------

_NON_WORD = re.compile(r"[^a-z0-9]+")
_VOWELS = re.compile(r"[aeiouy]+")
_REPEATS = re.compile(r"(.)\1+")


def name_tokens(text: str) -> list[str]:
    ascii_text = anyascii(text or "").casefold()
    return [t for t in _NON_WORD.split(ascii_text) if t]


def name_normalise(text: str) -> str:
    """Transliterated, casefolded, punctuation stripped, tokens sorted."""
    return " ".join(sorted(name_tokens(text)))


def _skeleton(token: str) -> str:
    return _REPEATS.sub(r"\1", _VOWELS.sub("", token.replace("h", "")))


def block_keys(tokens: Iterable[str]) -> set[str]:
    keys: set[str] = set()
    for token in tokens:
        if len(token) >= 2:
            keys.add("t:" + token)
        skeleton = _skeleton(token)
        if len(skeleton) >= 2:
            keys.add("s:" + skeleton)
    return keys


def _aligned(short: list[str], long: list[str]) -> float:
    """Each token of ``short`` paired with its most similar unused token of ``long``
    (rapidfuzz ``ratio``): the mean of those scores."""
    free = list(long)
    total = 0.0
    for token in short:
        scored = [(fuzz.ratio(token, other), i) for i, other in enumerate(free)]
        best, at = max(scored)
        total += best
        free.pop(at)
    return total / len(short)


def name_score(query: str, candidate: str) -> float:
    """0-100, both arguments normalised (see the module docstring)."""
    if not query or not candidate:
        return 0.0
    q, c = query.split(), candidate.split()
    if len(q) < 2 or len(c) < 2:
        return float(fuzz.ratio(query, candidate))
    short, long = (q, c) if len(q) <= len(c) else (c, q)
    return max(float(fuzz.token_sort_ratio(query, candidate)), _aligned(short, long))


# --- parsing -------------------------------------------------------------------------------------


@dataclass
class ParsedEntry:
    data_id: str
    kind: str
    reference_number: str
    list_type: str
    listed_on: str
    primary_name: str
    names: list[dict[str, str]]
    details: dict[str, object] = field(default_factory=dict)


def _text(element: etree._Element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None and child.text else ""


def _parse(data: bytes) -> tuple[str, list[ParsedEntry]]:
    if not data:
        raise SanctionsFileError("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise SanctionsFileError(f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise SanctionsFileError(f"not well-formed XML: {exc.msg} (line {exc.lineno})") from None
    if root.getroottree().docinfo.internalDTD is not None or root.getroottree().docinfo.doctype:
        raise SanctionsFileError("the file declares a DOCTYPE; a consolidated list has none")
    if root.tag != "CONSOLIDATED_LIST":
        raise SanctionsFileError(
            f"the root element is {str(root.tag)[:40]!r}, expected CONSOLIDATED_LIST "
            "(the UN Security Council consolidated list format)"
        )
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    for kind, path, alias_tag in (
        ("individual", "INDIVIDUALS/INDIVIDUAL", "INDIVIDUAL_ALIAS"),
        ("entity", "ENTITIES/ENTITY", "ENTITY_ALIAS"),
    ):
        for position, element in enumerate(root.iterfind(path), start=1):
            entry = _entry(kind, element, alias_tag, position)
            if entry.data_id in seen:
                raise SanctionsFileError(f"DATAID {entry.data_id} appears twice")
            seen.add(entry.data_id)
            entries.append(entry)
    if not entries:
        raise SanctionsFileError("the list has no INDIVIDUAL or ENTITY entries")
    return str(root.get("dateGenerated") or "")[:40], entries


def _entry(kind: str, element: etree._Element, alias_tag: str, position: int) -> ParsedEntry:
    where = f"{kind} #{position}"
    data_id = _text(element, "DATAID")
    if not data_id or len(data_id) > 40:
        raise SanctionsFileError(f"{where} has no DATAID")
    parts = [_text(element, t) for t in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")]
    primary = " ".join(p for p in parts if p)[:400]
    if not primary:
        raise SanctionsFileError(f"{where} (DATAID {data_id}) has no FIRST_NAME")
    names = [{"name": primary, "source": "primary", "quality": ""}]
    original = _text(element, "NAME_ORIGINAL_SCRIPT")
    if original:
        names.append({"name": original[:400], "source": "original_script", "quality": ""})
    for alias in element.iterfind(alias_tag):
        alias_name = _text(alias, "ALIAS_NAME")
        if alias_name:
            names.append(
                {"name": alias_name[:400], "source": "alias", "quality": _text(alias, "QUALITY")}
            )
    for item in names:
        item["normalised"] = name_normalise(item["name"])[:400]
    births = []
    for birth in element.iterfind("INDIVIDUAL_DATE_OF_BIRTH"):
        births.append(
            {
                "type": _text(birth, "TYPE_OF_DATE"),
                "date": _text(birth, "DATE"),
                "year": _text(birth, "YEAR"),
            }
        )
    nationalities = [
        (v.text or "").strip() for v in element.iterfind("NATIONALITY/VALUE") if v.text
    ]
    return ParsedEntry(
        data_id=data_id,
        kind=kind,
        reference_number=_text(element, "REFERENCE_NUMBER")[:40],
        list_type=_text(element, "UN_LIST_TYPE")[:60],
        listed_on=_text(element, "LISTED_ON")[:20],
        primary_name=primary,
        names=[n for n in names if n["normalised"]],
        details={
            "version": _text(element, "VERSIONNUM"),
            "dates_of_birth": births,
            "nationalities": nationalities,
            "comments": _text(element, "COMMENTS1")[:2000],
        },
    )


def sanctions_import(
    *, data: bytes, file_name: str, now: datetime, actor_id: int | None = None
) -> SanctionsList:
    """Import a consolidated list file as the new active list (see the module docstring)."""
    generated, entries = _parse(data)
    with transaction.atomic():
        new = SanctionsList.objects.create(
            file_name=(file_name or "upload.xml")[:200],
            sha256=hashlib.sha256(data).hexdigest(),
            generated_on=generated,
            entries=len(entries),
            active=False,
            imported_by_id=actor_id,
            imported_at=now,
        )
        SanctionsEntry.objects.bulk_create(
            [
                SanctionsEntry(
                    sanctions_list=new,
                    data_id=e.data_id,
                    kind=e.kind,
                    reference_number=e.reference_number,
                    list_type=e.list_type,
                    listed_on=e.listed_on,
                    primary_name=e.primary_name,
                    names=e.names,
                    details=e.details,
                )
                for e in entries
            ],
            batch_size=1000,
        )
        previous = SanctionsList.objects.select_for_update().filter(active=True).first()
        if previous is not None:
            SanctionsList.objects.filter(pk=previous.pk).update(active=False)
        SanctionsList.objects.filter(pk=new.pk).update(active=True)
        audit_record(
            actor=f"staff:{actor_id}" if actor_id else "system",
            action="aml.sanctions.import",
            object_type="aml.sanctions_list",
            object_id=str(new.pk),
            data={
                "sha256": new.sha256,
                "entries": len(entries),
                "replaced": previous.pk if previous else None,
            },
            now=now,
        )
    new.active = True
    return new


SCREEN_TASK = "aml_screen_customers"


def customers_screen_enqueue() -> int:
    """Queue the screening of every customer against the active list (the worker's
    ``aml_screen_customers`` job; at most one waits): what the upload form does, so the
    request's cost does not grow with the number of customers."""
    return job_enqueue(SCREEN_TASK, queueing_lock=SCREEN_TASK)


def active_list() -> SanctionsList | None:
    return SanctionsList.objects.filter(active=True).first()


# --- the in-memory blocking index ----------------------------------------------------------------


@dataclass(frozen=True)
class IndexedName:
    entry_id: int
    data_id: str
    primary_name: str
    name: str
    source: str
    normalised: str


@dataclass
class ListIndex:
    list_id: int
    names: list[IndexedName]
    postings: dict[str, list[int]]  # block key -> positions in ``names``

    def candidates(self, tokens: list[str]) -> set[int]:
        keys = sorted(block_keys(tokens), key=lambda k: len(self.postings.get(k, ())))
        found: set[int] = set()
        common = max(50, len(self.names) // 20)
        for position, key in enumerate(keys):
            posting = self.postings.get(key, ())
            # the two rarest keys always; a very common one ("bin", "al") adds nothing new
            if position >= 2 and len(posting) > common:
                break
            found.update(posting)
        return found


def index_build(list_id: int) -> ListIndex:
    names: list[IndexedName] = []
    postings: dict[str, list[int]] = defaultdict(list)
    rows = SanctionsEntry.objects.filter(sanctions_list_id=list_id).values_list(
        "id", "data_id", "primary_name", "names"
    )
    for entry_id, data_id, primary, entry_names in rows.iterator(chunk_size=2000):
        for item in entry_names:
            position = len(names)
            names.append(
                IndexedName(
                    entry_id, data_id, primary, item["name"], item["source"], item["normalised"]
                )
            )
            for key in block_keys(item["normalised"].split()):
                postings[key].append(position)
    return ListIndex(list_id, names, dict(postings))


_indexes: dict[int, ListIndex] = {}
_index_lock = threading.Lock()


def list_index(list_id: int) -> ListIndex:
    index = _indexes.get(list_id)
    if index is None:
        with _index_lock:
            index = _indexes.get(list_id) or index_build(list_id)
            _indexes.clear()  # keep only the list in use
            _indexes[list_id] = index
    return index


@dataclass(frozen=True)
class Match:
    entry_id: int
    data_id: str
    primary_name: str
    entry_name: str
    name_source: str
    entry_normalised: str
    subject_normalised: str
    score: float
    threshold: float


def names_match(name: str, index: ListIndex, *, threshold: float) -> list[Match]:
    """The entries of ``index`` that ``name`` matches at ``threshold`` or above, best name
    per entry, best first."""
    query = name_normalise(name)
    if not query:
        return []
    tokens = query.split()
    best: dict[int, Match] = {}
    for position in index.candidates(tokens):
        item = index.names[position]
        score = name_score(query, item.normalised)
        if score < threshold:
            continue
        known = best.get(item.entry_id)
        if known is None or score > known.score:
            best[item.entry_id] = Match(
                item.entry_id,
                item.data_id,
                item.primary_name,
                item.name,
                item.source,
                item.normalised,
                query,
                round(score, 2),
                threshold,
            )
    return sorted(best.values(), key=lambda m: -m.score)


def screening_threshold(now: datetime) -> tuple[float, RuleVersion | None]:
    """The threshold of the ``sanctions_screening`` rule in force (and the rule), else the
    setting ``LIGHTWAY_AML_SANCTIONS_THRESHOLD`` (default 88). One query on the small
    rules table (it runs inline for each remittance)."""
    version = (
        RuleVersion.objects.filter(kind=SCREENING_RULE_KIND, effective_from__lte=now)
        .order_by("-effective_from", "-version")
        .first()
    )
    if (
        version is not None
        and version.enabled
        and (version.effective_to is None or version.effective_to > now)
    ):
        return float(version.parameters.get("threshold", DEFAULT_THRESHOLD)), version
    return float(getattr(settings, "LIGHTWAY_AML_SANCTIONS_THRESHOLD", DEFAULT_THRESHOLD)), None


def hit_subject_context(subject_ref: str) -> str:
    """The associated data of a hit's sealed subject name (the subject it names)."""
    return f"aml.sanctions_hit.subject_name:{subject_ref}"


# A customer's hit is sealed with their own key (erasure shreds it with their other data);
# rotation moves a value still under a KEK (hits sealed by aml migration 0003) to that key.
encrypted_column_register(
    EncryptedColumn(
        "aml.SanctionsHit",
        "subject_name_ct",
        lambda row: hit_subject_context(row.subject_ref),
        person="user_id",
    )
)


def hit_subject_seal(name: str, *, subject_ref: str, user_id: int | None, now: datetime) -> bytes:
    context = hit_subject_context(subject_ref)
    if user_id is None:
        return encrypt(name, context=context)
    return person_encrypt(name, user_id=user_id, context=context, now=now)


def hit_subject_name(hit: SanctionsHit) -> str | None:
    """The subject's normalised name as matched (unsealed; None once retention erased the
    person: their key is destroyed). Callers show it masked."""
    try:
        return decrypt(bytes(hit.subject_name_ct), context=hit_subject_context(hit.subject_ref))
    except PersonDataErased:
        return None


# --- screening -----------------------------------------------------------------------------------


def _hits_record(
    matches: list[Match],
    *,
    list_id: int,
    subject_type: str,
    subject_ref: str,
    user_id: int | None,
    now: datetime,
    rule: object,
) -> int:
    new = 0
    for match in matches:
        hit, created = SanctionsHit.objects.get_or_create(
            sanctions_list_id=list_id,
            entry_id=match.entry_id,
            subject_type=subject_type,
            subject_ref=subject_ref,
            defaults={
                "user_id": user_id,
                "subject_name_ct": hit_subject_seal(
                    match.subject_normalised[:400],
                    subject_ref=subject_ref,
                    user_id=user_id,
                    now=now,
                ),
                "entry_name": match.entry_name[:400],
                "entry_normalised": match.entry_normalised[:400],
                "name_source": match.name_source,
                "scorer": SCORER,
                "score": match.score,
                "threshold": match.threshold,
                "created_at": now,
            },
        )
        if not created:
            continue
        new += 1
        audit_record(
            actor="system",
            action="aml.sanctions.hit",
            object_type="aml.sanctions_hit",
            object_id=str(hit.pk),
            data={
                "subject": subject_ref,
                "list": list_id,
                "data_id": match.data_id,
                "source": match.name_source,
                # scores as text: the audit trail refuses floats
                "score": f"{match.score:.2f}",
                "threshold": f"{match.threshold:.2f}",
            },
            now=now,
        )
        if rule is not None:
            alert_raise(
                AlertInput(
                    rule=rule,  # type: ignore[arg-type]
                    subject_ref=f"user:{user_id}" if user_id else subject_ref,
                    subject_user_id=user_id,
                    dedupe=f"hit:{hit.pk}",
                    evidence={
                        "hit": hit.pk,
                        "list": list_id,
                        "data_id": match.data_id,
                        "listed_name": match.primary_name,
                        "matched_name": match.entry_name,
                        "name_source": match.name_source,
                        "entry_normalised": match.entry_normalised,
                        # the subject's own (normalised) name stays in the hit record,
                        # shown masked: the evidence names the hit
                        "scorer": SCORER,
                        "score": match.score,
                        "threshold": match.threshold,
                    },
                    score=match.score,
                ),
                now=now,
            )
    if new:
        inline.sanctioned_cache_clear()
    return new


def customer_screen(*, user_id: int, now: datetime, threshold: float | None = None) -> int:
    """Screen one customer's name (decrypted from their profile) against the active list;
    the number of new hits."""
    current = active_list()
    if current is None:
        return 0
    profile = Profile.objects.filter(user_id=user_id, realm=Realm.CUSTOMER).first()
    if profile is None or profile.name_ct is None:
        return 0
    limit, rule = screening_threshold(now)
    return _screen_profile(profile, current.pk, now, threshold or limit, rule)


def _screen_profile(
    profile: Profile, list_id: int, now: datetime, threshold: float, rule: object
) -> int:
    name = profile_pii(profile).name or ""
    matches = names_match(name, list_index(list_id), threshold=threshold)
    if not matches:
        return 0
    with transaction.atomic():
        return _hits_record(
            matches,
            list_id=list_id,
            subject_type="customer",
            subject_ref=f"user:{profile.user_id}",
            user_id=profile.user_id,
            now=now,
            rule=rule,
        )


def customers_screen(
    *,
    now: datetime,
    threshold: float | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = 500,
) -> tuple[int, int]:
    """Screen every customer with a name against the active list (after an import), in
    keyset pages of ``batch``: (customers screened, new hits)."""
    current = active_list()
    if current is None:
        return 0, 0
    limit, rule = screening_threshold(now)
    screened = hits = 0
    after = 0
    while True:
        page = list(
            Profile.objects.filter(
                realm=Realm.CUSTOMER, user_id__gt=after, name_ct__isnull=False
            ).order_by("user_id")[:batch]
        )
        if not page:
            break
        for profile in page:
            hits += _screen_profile(profile, current.pk, now, threshold or limit, rule)
            screened += 1
        after = page[-1].user_id
        if progress is not None:
            progress(len(page))
    return screened, hits


def beneficiary_screen(*, name: str, subject_ref: str, now: datetime) -> list[Match]:
    """Screen a remittance beneficiary's name inline (before the remittance is recorded):
    the matches, each recorded as a hit in its own transaction (it stays when the caller
    then refuses the remittance)."""
    current = active_list()
    if current is None:
        return []
    limit, rule = screening_threshold(now)
    matches = names_match(name, list_index(current.pk), threshold=limit)
    if matches:
        with transaction.atomic():
            _hits_record(
                matches,
                list_id=current.pk,
                subject_type="beneficiary",
                subject_ref=subject_ref,
                user_id=None,
                now=now,
                rule=rule,
            )
    return matches
