"""`pos-client receipt | reprint | print-queue`: receipts as ESC/POS bytes, printing, the reprint queue."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from drivers.printer import PrinterError
from pos_client.cli.base import Outcome, add_command, open_ctx
from pos_client.domain.errors import UsageError
from pos_client.services.printing import print_receipt, printer_status, retry_pending
from pos_client.services.receipt import render_receipt
from pos_client.store import print_queue


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "receipt", cmd_receipt, "write a sale's receipt as ESC/POS bytes")
    p.add_argument("sale_id", help="the sale whose receipt to write")
    p.add_argument("--out", required=True, help="file to write ('-' for stdout)")
    p.add_argument("--profile", help="printer capability profile (default: [printer] profile)")
    p = add_command(sub, "reprint", cmd_reprint, "print a sale's receipt again on the configured printer")
    p.add_argument("sale_id", help="the sale whose receipt to print again (marked *** REPRINT ***)")
    p = add_command(sub, "print-queue", cmd_queue, "list receipts waiting to print; --retry prints them")
    p.add_argument("--retry", action="store_true", help="send the pending receipts to the printer now")
    add_command(sub, "printer-status", cmd_status, "ask the configured printer for its status (DLE EOT)")


def cmd_receipt(args: argparse.Namespace) -> Outcome:
    ctx = open_ctx(args)
    try:
        profile = args.profile or ctx.config.section("printer").get("profile") or "TM-T88V"
        data = render_receipt(ctx, args.sale_id, profile)
    finally:
        ctx.close()
    if args.out == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return Outcome()
    Path(args.out).write_bytes(data)
    return Outcome({"sale_id": args.sale_id, "out": args.out, "bytes": len(data), "profile": profile},
                   f"receipt {args.sale_id}: {len(data)} bytes written to {args.out} ({profile})")


def cmd_reprint(args: argparse.Namespace) -> Outcome:
    ctx = open_ctx(args)
    try:
        out = print_receipt(ctx, args.sale_id, reprint=True)
    finally:
        ctx.close()
    if not out.printed:

        raise PrinterError(f"receipt not printed: {out.reason}. It is queued: `pos-client print-queue --retry`"
                           " once the printer is ready")
    text = f"receipt {args.sale_id} printed ({out.bytes} bytes)" + (f"; {out.warning}" if out.warning else "")
    return Outcome(out.as_dict(), text)


def cmd_queue(args: argparse.Namespace) -> Outcome:
    ctx = open_ctx(args)
    try:
        results = retry_pending(ctx) if args.retry else []
        jobs = print_queue.pending(ctx.conn)
    finally:
        ctx.close()
    lines = [f"{len(jobs)} receipt(s) waiting to print"]
    lines += [f"  sale {j.sale_id} ({j.kind}, {j.attempts} attempt(s)): {j.last_error or 'not tried yet'}"
              for j in jobs]
    if args.retry:
        printed = sum(1 for r in results if r.printed)
        lines.insert(0, f"printed {printed} of {len(results)}")
    data = {"pending": [j.public() for j in jobs], "retried": [r.as_dict() for r in results]}
    return Outcome(data, "\n".join(lines), exit_code=1 if args.retry and jobs else 0)


def cmd_status(args: argparse.Namespace) -> Outcome:
    ctx = open_ctx(args)
    try:
        if not str(ctx.config.section("printer").get("url") or ""):
            raise UsageError("no printer configured: set [printer] url in config.toml, e.g. tcp://192.168.1.50:9100")
        st = printer_status(ctx)
    finally:
        ctx.close()
    if st.get("known") is False:
        text = f"{st['url']}: reachable (this connection cannot report paper or cover state)"
    else:
        text = f"{st['url']}: {st['problem'] or 'ready'}" + (f" ({st['warning']})" if st.get("warning") else "")
    return Outcome(st, text, exit_code=1 if st["problem"] else 0)
