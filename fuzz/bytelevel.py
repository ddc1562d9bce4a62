"""Coverage-guided byte-level fuzzing with atheris (libFuzzer) of the frame decoder and the
session-record reader (targets: tests/support/byte_targets.py).

    .venv/bin/python -m fuzz.bytelevel decoder --runs 100000
    .venv/bin/python -m fuzz.bytelevel record --runs 20000 --merge

It starts from the corpus kept in the repository (tests/fuzz_corpus/<target>/) and writes
the inputs it finds to .hypothesis/atheris/<target>/ (not committed). `--merge` then adds to
the repository corpus only the inputs that reach new coverage (libFuzzer's -merge=1), to
commit; the suite replays every corpus file (tests/test_fuzz_corpus.py). A crash is saved
as .hypothesis/atheris/crash-<hash> and ends the run with a non-zero status: add the file
to the corpus once fixed, as a regression.
Any further libFuzzer flag can be given after --, e.g. `-- -max_len=4096 -jobs=2`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fuzz_corpus"
WORK = ROOT / ".hypothesis" / "atheris"
MAX_LEN = {"decoder": 512, "record": 4096}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.bytelevel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=sorted(MAX_LEN))
    parser.add_argument("--runs", type=int, default=100_000, help="test cases to run")
    parser.add_argument("--merge", action="store_true",
                        help="afterwards, add the new-coverage inputs to tests/fuzz_corpus/")
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.libfuzzer = argv[cut + 1:]  # libFuzzer's own flags, after --

    import atheris

    sys.path.insert(0, str(ROOT / "tests" / "support"))
    with atheris.instrument_imports(include=["iontocore", "cobs", "byte_targets"]):
        import byte_targets
    target = byte_targets.TARGETS[args.target]
    found, corpus = WORK / args.target, CORPUS / args.target
    found.mkdir(parents=True, exist_ok=True)
    corpus.mkdir(parents=True, exist_ok=True)
    if any(f.startswith("-merge") for f in args.libfuzzer):
        flags = args.libfuzzer  # a merge's child process, started by libFuzzer below
    elif args.merge:  # into the repository corpus, from what the runs found
        flags = ["-merge=1", f"-max_len={MAX_LEN[args.target]}", str(corpus), str(found)]
    else:  # new inputs are written to the first directory: `found`, not the repository
        flags = [f"-runs={args.runs}", f"-max_len={MAX_LEN[args.target]}",
                 f"-artifact_prefix={WORK}/", *args.libfuzzer, str(found), str(corpus)]
    # libFuzzer starts child processes (merge, -jobs, -fork) by running argv[0] and its
    # flags in a shell: argv[0] is this command
    me = (f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m fuzz.bytelevel "
          f"{args.target} --")
    atheris.Setup([me, *flags], target)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
