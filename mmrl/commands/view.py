"""``mmrl view DIR [DIR ...] [--output SITE] [--serve PORT]``: see what the policy did, in a browser.

Builds a static site from a training run (``trainer.output_dir``) or from ``mmrl eval`` output
directories. For a run: every step's prompts with their images and samples (response with the
reasoning folded, extracted answer, verdict, reward, advantage, the group's success rate and
A-GRAE's weights), with filters and a search; the curves of every metric in metrics.jsonl; the
validations, the first compared with the last. For evaluations: pass@k curves, tables by task
and by category linking to their problems, and the first evaluation compared with each of the
others, problem by problem.

The site (default DIR/view) is plain files: open SITE/index.html, or pass --serve PORT to serve it
on http://127.0.0.1:PORT. It loads nothing from the network. Run the command again during
training: only steps with new rollouts are rendered again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "view",
        help="a static site of a run's rollouts and curves, or of evaluations side by side",
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "dirs",
        nargs="+",
        metavar="DIR",
        help="a run directory, or one or more `mmrl eval` output directories",
    )
    parser.add_argument("--output", "-o", default=None, help="where to write the site (default: DIR/view)")
    parser.add_argument(
        "--serve",
        type=int,
        default=None,
        metavar="PORT",
        help="after building, serve the site on 127.0.0.1:PORT until Ctrl-C (0: any free port)",
    )
    parser.set_defaults(func=run_view)


def run_view(args: argparse.Namespace) -> int:
    from mmrl.errors import UserError
    from mmrl.view import build_site

    if args.serve is not None and not 0 <= args.serve <= 65535:
        raise UserError(f"--serve {args.serve} must be a port number in 0..65535")
    output = Path(args.output) if args.output else Path(args.dirs[0]) / "view"
    report = build_site(args.dirs, output)
    reused = f", {report.steps_reused} unchanged" if report.steps_reused else ""
    print(
        f"wrote {report.pages} pages ({report.steps} steps rendered{reused}, {report.evaluations} evaluations) "
        f"to {report.output} in {report.seconds:.1f} s",
        file=sys.stderr,
    )
    if args.serve is None:
        print(f"open {report.index.resolve()}")
        return 0
    serve(report.output, args.serve)
    return 0


def serve(root: Path, port: int) -> None:
    """Serve ``root`` on 127.0.0.1:``port`` until interrupted."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # one line per request is noise
            pass

    from mmrl.errors import UserError

    handler = functools.partial(Quiet, directory=str(root))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise UserError(
            f"--serve {port}: cannot listen on 127.0.0.1:{port} ({exc}); choose another port, or 0"
        ) from None
    with server:
        print(f"serving {root} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
