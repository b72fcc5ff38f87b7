"""Exchange packages (issue 19): work for an annotator on a machine without a network, and the
labels coming back.

- ``pack``: items chosen by the project's strategy (plus its random share; with ``overlap`` a
  share drawn from items already packed for others) go into an *assignment* package: one file
  that ``open_package`` turns into an ordinary project on the annotator's machine.
- ``pack_results``: from such a project, the events made in it as a *results* package.
- ``merge_package``: a results package into the main project: everything checked first, then
  one transaction (``store/packages.py``).

A package is a zip file (``.alapppack``) holding ``manifest.json`` and one member: the project
file (``project.alapp``) of an assignment, or ``results.json`` of results. The manifest names
the format and its version, the kind, the project's and the package's ids, the annotator,
counts, and the size and sha256 of every member; a package is read only when every member is
there and matches (a zip cut short has no directory and is refused before that). Writes go to
a temporary file that is renamed into place; an existing file is replaced only when asked
(``force``) and a project file never.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from alapp import __version__
from alapp.app.rounds import snapshot_of
from alapp.core import options
from alapp.core.errors import AlappError
from alapp.core.files import atomic_output, refuse_protected, write_atomic
from alapp.core.progress import Progress
from alapp.core.types import ItemId, Source, Split
from alapp.loop.round import RoundRunner
from alapp.store import packages
from alapp.store.packages import PackedItem
from alapp.store.project import Project
from alapp.store.team import check_name, project_id

MergeReport = packages.MergeReport  # what a merge did (the window shows it)
FORMAT = "alapp-package"
FORMAT_VERSION = 1
SUFFIX = ".alapppack"
MANIFEST = "manifest.json"
PROJECT_MEMBER = "project.alapp"
RESULTS_MEMBER = "results.json"
ASSIGNMENT, RESULTS = "assignment", "results"
MEMBERS = {ASSIGNMENT: PROJECT_MEMBER, RESULTS: RESULTS_MEMBER}


@dataclass
class PackReport:
    path: Path
    package_id: str
    annotator: str
    items: int
    fresh: int
    overlap: int
    overlap_asked: int  # the share asked for, as a count (fewer when fewer were available)
    counts: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        over = (f", {self.overlap} of them overlap with other annotators"
                + (f" ({self.overlap_asked} asked; fewer items were packed for others)"
                   if self.overlap < self.overlap_asked else "")) if self.overlap_asked else ""
        return (f"packed {self.items} items for {self.annotator} into {self.path}{over} "
                f"(package {self.package_id[:12]})")


@dataclass
class OpenReport:
    path: Path
    annotator: str
    items: int
    project_id: str
    package_id: str

    def text(self) -> str:
        return (f"opened the package for {self.annotator} as {self.path} ({self.items} items "
                "to label); label it like any project, then send the labels back: "
                f"alapp pack-results {self.path}")


@dataclass
class ResultsReport:
    path: Path
    annotator: str
    events: int
    labels: int
    items: int

    def text(self) -> str:
        return (f"wrote {self.events} events ({self.labels} labels on {self.items} items, by "
                f"{self.annotator}) to {self.path}; the lead merges it: alapp merge PROJECT "
                f"{self.path.name}")


# -- the file ----------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^\w-]+", "_", text).strip("_")[:40] or "package"


def _check_out(out: Path, force: bool, protect: Sequence[Path]) -> None:
    refuse_protected(out, protect)
    if out.exists() and not force:
        raise AlappError(f"{out}: already exists; choose another name, or replace it (--force)")
    if out.suffix == ".alapp":
        raise AlappError(f"{out}: a package is not a project file; name it *{SUFFIX}")


def _free_name(path: Path) -> Path:
    """``path``, or with -2, -3, ... before its suffix when taken (a default name)."""
    candidate, k = path, 1
    while candidate.exists():
        k += 1
        candidate = path.with_name(f"{path.stem}-{k}{path.suffix}")
    return candidate


def write_package(out: Path, manifest: dict[str, Any], members: dict[str, bytes],
                  protect: Sequence[Path]) -> None:
    """The zip: the manifest (with every member's size and sha256), then the members; written
    to a temporary file and renamed into place."""
    manifest = {**manifest, "members": {name: {"size": len(data), "sha256": _sha256(data)}
                                        for name, data in members.items()}}
    with atomic_output(out, binary=True, protect=protect) as stream, \
            zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
        for name, data in members.items():
            archive.writestr(name, data)


def _manifest(kind: str, project: str, package_id: str, annotator: str,
              counts: dict[str, int], **more: Any) -> dict[str, Any]:
    return {"format": FORMAT, "version": FORMAT_VERSION, "kind": kind, "project_id": project,
            "package_id": package_id, "annotator": annotator, "created_at": time.time(),
            "alapp": __version__, "counts": counts, **more}


def read_package(path: Path) -> tuple[dict[str, Any], bytes]:
    """The manifest and the one member, after checking both; an ``AlappError`` of one line
    naming the file when it is not a package, is cut short, or was changed."""
    path = Path(path)
    if not path.is_file():
        raise AlappError(f"{path}: no such package file")
    again = "ask for the package again"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if MANIFEST not in names:
                raise AlappError(f"{path}: not an alapp package (no {MANIFEST})")
            manifest = _checked_manifest(path, archive.read(MANIFEST))
            member = MEMBERS[manifest["kind"]]
            listed = manifest["members"]
            extra = sorted(set(names) - {MANIFEST, member})
            if extra or set(listed) != {member}:
                raise AlappError(f"{path}: the package holds {extra[0] if extra else 'members'} "
                                 f"its manifest does not list; {again}")
            if member not in names:
                raise AlappError(f"{path}: {member} is missing; the file was cut short; {again}")
            info = listed[member]
            if archive.getinfo(member).file_size != info.get("size"):
                raise AlappError(f"{path}: {member} is not the size its manifest says: the "
                                 f"package was changed or damaged; {again}")
            data = archive.read(member)
    except zipfile.BadZipFile as e:
        raise AlappError(f"{path}: not an alapp package, or a damaged or cut-short one ({e}); "
                         f"{again}") from None
    except (zlib.error, EOFError) as e:
        raise AlappError(f"{path}: damaged or cut short ({e}); {again}") from None
    if _sha256(data) != info.get("sha256"):
        raise AlappError(f"{path}: {member} does not match its checksum (sha256): the package "
                         f"was changed or damaged after it was made; {again}")
    return manifest, data


def _checked_manifest(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise AlappError(f"{path}: its {MANIFEST} cannot be read ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise AlappError(f"{path}: not an alapp package (its manifest names no alapp format)")
    version = manifest.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise AlappError(f"{path}: package format version {version!r}; this alapp reads up to "
                         f"{FORMAT_VERSION}: update alapp")
    if manifest.get("kind") not in MEMBERS:
        raise AlappError(f"{path}: unknown package kind {manifest.get('kind')!r}")
    for key in ("project_id", "package_id", "annotator"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise AlappError(f"{path}: its manifest has no {key}")
    if not isinstance(manifest.get("members"), dict) or not all(
            isinstance(v, dict) for v in manifest["members"].values()):
        raise AlappError(f"{path}: its manifest lists no members")
    return manifest


# -- pack --------------------------------------------------------------------------------------


def parse_overlap(text: str) -> float:
    """"15%", "15" or "15.5" as a percentage of the package's items (0-100)."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise AlappError(f"--overlap {text!r}: expected a percentage, e.g. 15%") from None
    if not 0 <= value <= 100:
        raise AlappError(f"--overlap {text!r}: a percentage from 0 to 100")
    return value


def pack(path: Path, annotator: str, items: int, overlap: float = 0.0, out: Path | None = None,
         with_model: bool = False, force: bool = False,
         progress: Progress | None = None) -> PackReport:
    with Project.open(path) as project:
        return pack_project(project, annotator, items, overlap, out, with_model, force,
                            progress)


def pack_project(project: Project, annotator: str, items: int, overlap: float = 0.0,
                 out: Path | None = None, with_model: bool = False, force: bool = False,
                 progress: Progress | None = None) -> PackReport:
    """An assignment package of ``items`` items for ``annotator`` (``overlap``: the percentage
    drawn from items packed for others), recorded in the project (``assignments``)."""
    name = check_name(annotator)
    if items < 1:
        raise AlappError(f"--items {items}: at least 1")
    if not 0 <= overlap <= 100:
        raise AlappError(f"--overlap {overlap}: a percentage from 0 to 100")
    if project.read_only:
        raise AlappError(f"{project.path}: opened read-only; packing records the assignment")
    if packages.package_identity(project).get("package_id"):
        raise AlappError(f"{project.path}: a project opened from a package; pack from the main "
                         "project")
    package_id = uuid.uuid4().hex
    out = Path(out) if out else project.path.with_name(
        f"{project.path.stem}-{_slug(name)}-{package_id[:6]}{SUFFIX}")
    _check_out(out, force, [project.path])
    asked = round(items * overlap / 100)
    fresh, shared = choose_items(project, name, items, asked, progress)
    if not fresh and not shared:
        raise AlappError(f"{project.path}: no items left to pack for {name}: every pool item "
                         "is labeled, packed already, or (for overlap) labeled by them")
    ordered = _spread(fresh, shared)
    with tempfile.TemporaryDirectory(prefix="alapp-pack-") as folder:
        inner = Path(folder) / PROJECT_MEMBER
        counts = packages.write_package_project(project, inner, name, package_id, ordered,
                                                with_model)
        data = inner.read_bytes()
    counts = {**counts, "fresh": len(fresh), "overlap": len(shared)}
    manifest = _manifest(ASSIGNMENT, project_id(project), package_id, name, counts,
                         project_name=project.settings().name)
    write_package(out, manifest, {PROJECT_MEMBER: data}, [project.path])
    try:
        packages.record_assignments(project, name, package_id, [p.item_id for p in fresh],
                                    [p.item_id for p in shared])
    except BaseException:
        out.unlink(missing_ok=True)  # ours, written just now: no package without its record
        raise
    return PackReport(out, package_id, name, len(ordered), len(fresh), len(shared), asked,
                      counts)


def _spread(fresh: list[PackedItem], shared: list[PackedItem]) -> list[PackedItem]:
    """The overlap items spread evenly through the strategy's order of the fresh ones, so that
    an annotator who stops early has labeled some of both, and none stands out."""
    if not shared:
        return list(fresh)
    total = len(fresh) + len(shared)
    slots = {int((k + 0.5) * total / len(shared)) for k in range(len(shared))}
    rest_f, rest_s = iter(fresh), iter(shared)
    ordered = []
    for position in range(total):
        pick = next(rest_s, None) if position in slots else next(rest_f, None)
        if pick is None:
            pick = next(rest_f, None) or next(rest_s)
        ordered.append(pick)
    return ordered


def choose_items(project: Project, annotator: str, items: int, overlap: int,
                 progress: Progress | None = None) -> tuple[list[PackedItem], list[PackedItem]]:
    """(fresh, overlap) items for a package, chosen by the project's strategy as a round
    would choose a batch (its random share included; a project without labels gets the
    strategy's cold start).

    Overlap candidates: pool items already packed for someone else, neither packed for nor
    labeled by ``annotator``; a round over those alone (their labels, where merged already,
    held out of the model for this ranking) picks ``overlap`` of them. Fresh candidates:
    unlabeled pool items packed for nobody; a second round picks the rest. Test-split items
    are never packed."""
    snap = snapshot_of(project)
    settings = replace(snap.settings, selection_mode=options.SelectionMode.POOL)
    packed = packages.assignments(project)
    mine = {i for i, who in packed.items() if annotator in who}
    done = packages.labeled_by(project, annotator)
    split = dict(zip(snap.ids, snap.splits, strict=True))
    candidates = {i for i, who in packed.items()
                  if i not in mine and i not in done and split.get(i) == Split.POOL}
    runner = RoundRunner()
    shared: list[PackedItem] = []
    if overlap and candidates:
        round_snap = replace(
            snap, settings=replace(settings, batch_size=min(overlap, len(candidates))),
            current={i: v for i, v in snap.current.items() if i not in candidates},
            excluded=set(snap.ids) - candidates)
        shared = _packed(runner.run(round_snap, progress).picks)
    rest = items - len(shared)
    fresh: list[PackedItem] = []
    if rest > 0:
        round_snap = replace(snap, settings=replace(settings, batch_size=rest),
                             excluded=snap.excluded | set(packed))
        fresh = _packed(runner.run(round_snap, progress).picks)
    return fresh, shared


def _packed(picks: Sequence[Any]) -> list[PackedItem]:
    return [PackedItem(ItemId(p.item_id), Source.RANDOM if p.is_random else Source.AL,
                       p.strategy or None, p.score, p.predicted_cost) for p in picks]


# -- open --------------------------------------------------------------------------------------


def open_package(file: Path, out: Path | None = None) -> OpenReport:
    """The assignment package ``file`` as a project file ``out`` (default: beside it, named
    like it), checked first; never replaces a file."""
    file = Path(file)
    manifest, data = read_package(file)
    if manifest["kind"] != ASSIGNMENT:
        raise AlappError(f"{file}: a results package (labels by {manifest['annotator']}), not "
                         "work to label: merge it into the main project (alapp merge PROJECT "
                         f"{file.name})")
    out = Path(out) if out else file.with_suffix(".alapp")
    if out.exists():
        raise AlappError(f"{out}: already exists; choose another name (--out), or open that "
                         "project")
    write_atomic(out, data)
    try:
        with Project.open(out, backup=False) as project:
            identity = packages.package_identity(project)
            items = project.count_items()["pool"]
    except BaseException:
        _remove_made(out)
        raise
    for key, said in (("project_id", manifest["project_id"]),
                      ("package_id", manifest["package_id"]),
                      ("package_for", manifest["annotator"])):
        if identity.get(key) != said:
            _remove_made(out)
            raise AlappError(f"{file}: its manifest and its project disagree on {key}: the "
                             "package was changed; ask for it again")
    return OpenReport(out, manifest["annotator"], items, manifest["project_id"],
                      manifest["package_id"])


def project_for_package(file: Path) -> tuple[Path, str]:
    """The project of an assignment package and the annotator it is for: opened beside it
    (``FILE.alapp``) the first time, that same project afterwards."""
    file = Path(file)
    out = file.with_suffix(".alapp")
    if not out.exists():
        report = open_package(file, out)
        return report.path, report.annotator
    manifest, _ = read_package(file)
    with Project.open(out, read_only=True) as project:
        identity = packages.package_identity(project)
    if identity.get("package_id") != manifest["package_id"]:
        raise AlappError(f"{out}: already exists and is not this package's project; open the "
                         "package with File › Open package… and choose another name")
    return out, str(manifest["annotator"])


def _remove_made(path: Path) -> None:
    """A project file this command wrote a moment ago, and what SQLite made beside it."""
    for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# -- results -----------------------------------------------------------------------------------


def pack_results(path: Path, out: Path | None = None, force: bool = False) -> ResultsReport:
    with Project.open(path, read_only=True) as project:
        return results_of(project, out, force)


def results_of(project: Project, out: Path | None = None, force: bool = False) -> ResultsReport:
    """A results package of every event made in a project opened from a package."""
    identity = packages.package_identity(project)
    if "package_id" not in identity:
        raise AlappError(f"{project.path}: not a project opened from a package (alapp "
                         "open-package makes one); nothing to send back")
    events = packages.package_events(project)
    if not events:
        raise AlappError(f"{project.path}: nothing labeled here yet; nothing to send back")
    annotator = identity.get("package_for", "")
    out = Path(out) if out else _free_name(project.path.with_name(
        f"{project.path.stem}-results-{time.strftime('%Y%m%d-%H%M%S')}{SUFFIX}"))
    _check_out(out, force, [project.path])
    labels = sum(e["action"] == "label" for e in events)
    items = len({e["item"] for e in events})
    counts = {"events": len(events), "labels": labels, "items": items,
              "annotators": len({e["annotator"] for e in events})}
    results_id = uuid.uuid4().hex
    payload = {"project_id": identity["project_id"], "package_id": results_id,
               "assignment_id": identity["package_id"], "events": events}
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    manifest = _manifest(RESULTS, identity["project_id"], results_id, annotator, counts,
                         assignment_id=identity["package_id"])
    write_package(out, manifest, {RESULTS_MEMBER: data}, [project.path])
    return ResultsReport(out, annotator, len(events), labels, items)


# -- merge -------------------------------------------------------------------------------------


def merge_package(path: Path, package: Path) -> MergeReport:
    """Merge a results package into the project at ``path`` (refused while another program,
    the window included, has the project open: its lock)."""
    with Project.open(path) as project:
        return merge_into(project, package)


def merge_into(project: Project, package: Path) -> MergeReport:
    """Check everything, then merge in one transaction; the project is unchanged when this
    raises."""
    package = Path(package)
    manifest, data = read_package(package)
    if manifest["kind"] != RESULTS:
        raise AlappError(f"{package}: an assignment package (items for "
                         f"{manifest['annotator']}), not results: open it on the annotator's "
                         "machine (alapp open-package), label, and merge what alapp "
                         "pack-results writes; nothing was merged")
    ours = project_id(project)
    opened_for = packages.package_identity(project).get("package_for")
    if opened_for is not None:
        raise AlappError(f"{project.path}: a package opened for {opened_for}, not the main "
                         "project: merge results into the project the packages were made from; "
                         "nothing was merged")
    if manifest["project_id"] != ours:
        raise AlappError(f"{package}: made for another project (project id "
                         f"{manifest['project_id'][:16]}, this one's is {ours[:16]}); nothing "
                         "was merged")
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise AlappError(f"{package}: {RESULTS_MEMBER} cannot be read ({e})") from None
    if not isinstance(payload, dict) or payload.get("project_id") != ours \
            or payload.get("package_id") != manifest["package_id"]:
        raise AlappError(f"{package}: its manifest and its results disagree on the project or "
                         "the package; nothing was merged")
    return packages.merge_events(project, payload.get("events"), str(package))


def merge_text(report: MergeReport, package: Path | str) -> str:
    """What a merge did, in one line."""
    if not report.new_events:
        return (f"{package}: nothing new ({report.already_present} events already in the "
                "project)")
    who = ", ".join(f"{a} {n}" for a, n in sorted(report.per_annotator.items()))
    what = ", ".join(f"{n} {a}" for a, n in sorted(report.per_action.items()))
    return (f"merged {report.new_events} new events ({what}) on {report.items} items from "
            f"{package} by {who}; {report.already_present} already present")


# -- the window's actions (run on the session's writer thread) -----------------------------------

Writer = Callable[[Callable[[Project], Any]], Any]


def merge_with(write: Writer, package: Path) -> MergeReport:
    result: MergeReport = write(lambda p: merge_into(p, package))
    return result


def results_with(write: Writer, out: Path) -> ResultsReport:
    result: ResultsReport = write(lambda p: results_of(p, out, force=True))
    return result


def package_of(write: Writer) -> dict[str, str]:
    """The identity of the open project (``package_id`` present: it came from a package)."""
    result: dict[str, str] = write(packages.package_identity)
    return result
