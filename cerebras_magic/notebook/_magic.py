"""The %%cerebras cell magic and %cerebras line commands.

Flags are parsed by IPython's magic_arguments (quoting works, `%%cerebras?` documents them, a bad flag is
one UsageError line). The request parameters' flags and defaults come from the one list in core/_params.py:
each is a trait of the `Cerebras` configurable (`%config Cerebras.temperature = 0.2`) that sets the
session's default. A cell becomes an Ask and goes through `Session.run`, the path every front end shares.
Only IPython and traitlets (and the light core modules) are imported here: httpx, pydantic and pandas load
on first use.
"""
from __future__ import annotations

import json
import keyword
import re
from typing import Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split
from traitlets import Bool, CFloat, CInt, Enum, List, Unicode, observe

from .. import _errors as E
from ..core._params import BY_NAME, GRID, PARAMS, parse_value, split_values, unescape
from ..core._template import interpolate as fill_template
from ._commands import COMMANDS, LineCommands, no_near_command

FORMATS = ("markdown", "text", "code", "json")
INTERPOLATION_HINT = "define it, write {{ and }} for literal braces, or use --no-interpolate"
_TRAITS = {"float": CFloat, "int": CInt, "str": Unicode, "choice": Unicode, "bool": Bool}
# the traits that are the session's settings: every parameter's default, and the client options
_SESSION_TRAITS = (*(p.name for p in PARAMS), "stream", "base_url", "timeout", "max_retries", "backend")


def _default_trait(p):
    """The %config trait for a parameter's default (None: the server's own default)."""
    if p.kind == "list":
        return List(Unicode(), default_value=None, allow_none=True, help=p.help).tag(config=True)
    return _TRAITS[p.kind](None, allow_none=True, help=f"Default for {p.flag}: {p.help}").tag(config=True)


def _param_flags(func):
    """Add every parameter's flag from core/_params.py, in its order."""
    for p in reversed(PARAMS):
        bounded = p.kind in ("int", "float") and p.lo is not None
        kw = {"dest": p.name, "help": (p.help + (f" Allowed: {p.rule()}." if bounded else "")).replace("%", "%%")}
        if p.kind == "bool":
            kw["action"] = "store_true"
            kw["default"] = None
        elif p.kind == "list":
            kw.update(action="append", metavar="TEXT")
        elif p.name == "logprobs":
            kw.update(nargs="?", const=5, type=int, metavar="K")
        elif p.kind == "choice":
            kw.update(metavar=p.name.split("_")[-1].upper(), help=kw["help"] + f" One of: {', '.join(p.choices)}.")
        elif p.name in GRID:  # kept as typed: a comma list (-t 0,0.7) makes a grid, parsed in Cerebras._values
            kw.update(help=kw["help"] + " A comma list makes a grid" + (" (a comma followed by a space is text)."
                                                                        if p.escaped else "."))
        else:
            kw["type"] = {"float": float, "int": int}.get(p.kind, str)
        func = argument(*p.flags, **kw)(func)
    return func


@magics_class
class Cerebras(LineCommands, Magics):
    """Defaults for %%cerebras cells; a per-cell flag beats them."""

    backend = Enum(("auto", "cerebras", "local"), "auto",
                   help="auto: Cerebras with a key (or CEREBRAS_BASE_URL), else the local SmolLM2 if installed."
                   ).tag(config=True)
    # one default trait per request parameter (the class body's namespace is where traitlets finds traits)
    for _p in PARAMS:
        vars()[_p.name] = _default_trait(_p)
    del _p
    stream = Bool(True, help="Stream answers into the cell as they arrive.").tag(config=True)
    format = Enum(FORMATS, "markdown", help="How the answer is rendered.").tag(config=True)
    update_rate = CFloat(15.0, help="Most display updates per second while streaming.").tag(config=True)
    interpolate = Bool(True, help="Fill {name} from the user namespace.").tag(config=True)
    base_url = Unicode(None, allow_none=True, help="API base URL (else CEREBRAS_BASE_URL, else Cerebras).").tag(config=True)
    timeout = CFloat(60.0, help="Seconds before a request times out.").tag(config=True)
    max_retries = CInt(2, help="Retries on connection errors, 408/409/429/5xx (before any body).").tag(config=True)
    history_path = Unicode(None, allow_none=True,
                           help="SQLite file for the durable history ('' for memory only; None: default).").tag(config=True)

    def __init__(self, shell=None, session=None, **kwargs):
        self._session = None  # first: %config values arrive during __init__
        super().__init__(shell=shell, **kwargs)
        if session is not None:
            self.session = session

    @property
    def session(self):
        """The Session cells go through (the default one unless given), with these traits as its settings.
        Made on first use, so `%load_ext` does not import the request path."""
        if self._session is None:
            from ..core import default_session
            self.session = default_session()
        return self._session

    @session.setter
    def session(self, session) -> None:
        """Attach to a session: the traits set by %config (or a config file) become its settings; the
        session's own settings stay for the others (`cm.configure(model=...)` before %load_ext holds)."""
        self._session = session
        session.configure(_front="config", **{name: getattr(self, name) for name in _SESSION_TRAITS
                                              if getattr(self, name) != self.trait_defaults(name)})
        if self.history_path is not None:
            session.configure(history_path=self.history_path or None)

    @observe(*_SESSION_TRAITS)
    def _setting_changed(self, change):
        """The session keeps the settings (the panel reads them there too); a bad one is refused as it is
        set, in one line, and the setting keeps its old value."""
        try:
            self.session.configure(_front="config", **{change["name"]: change["new"]})
        except E.ParameterError as exc:
            with self.hold_trait_notifications():
                self.set_trait(change["name"], change["old"])
            raise UsageError(str(exc)) from None

    @observe("history_path")
    def _history_path_changed(self, change):
        self.session.configure(history_path=change["new"] or None)

    @magic_arguments()
    @argument("words", nargs="*", help="A one-line prompt for %%cerebras, or a command: " + ", ".join(COMMANDS))
    @_param_flags
    @argument("--backend", choices=("auto", "cerebras", "local"), help="Who answers (default: %%config Cerebras.backend).")
    @argument("--chat", nargs="?", const="default", metavar="NAME", help="Continue a conversation (default: 'default').")
    @argument("--new", nargs="?", const="default", metavar="NAME", help="Start a conversation afresh, then continue it.")
    @argument("--completion", action="store_true", help="Use /v1/completions (raw text continuation).")
    @argument("--json", action="store_true", help="Ask for a JSON object; the parsed value is in result.parsed.")
    @argument("--schema", metavar="NAME", help="A pydantic model class in your namespace: strict JSON schema output.")
    @argument("--param", action="append", metavar="KEY=JSON", help="Send any other API field, e.g. --param 'n=2' "
              "(a value that is not JSON is sent as a string: --param service_tier=auto).")
    @argument("--predict", metavar="VAR", help="Predicted output: the text in this variable (most of the answer, "
              "e.g. code to edit); the footer says how many predicted tokens were accepted.")
    @argument("--tools", metavar="F,G", help="Let the model call these notebook functions (a tool loop; each "
              "step is shown). --tool-choice auto|required|none|NAME picks how.")
    @argument("--max-steps", type=int, metavar="N", help="With --tools: at most N requests (default 8).")
    @argument("--approve", action="store_true", help="With --tools: ask yes/no before each call; no is sent "
              "back as the result.")
    @argument("--panel", action="store_true", help="Open the cell's prompt and flags in the playground panel: Run "
              "re-runs it there, Write back puts the panel's settings back into the cell.")
    @argument("--over", metavar="VAR", help="Batch: send the prompt once per row of this DataFrame ({column} from "
              "each row), Series or list ({} is the value); -o VAR keeps the result DataFrame.")
    @argument("--name", metavar="NAME", help="With --over: a resumable batch; run the cell again to send only the "
              "rows that have no result yet.")
    @argument("--concurrency", type=int, metavar="N", help="With --over: requests in flight at most (default 32).")
    @argument("--rpm", type=float, metavar="N", help="With --over: requests per minute at most (servers that send "
              "no rate-limit headers).")
    @argument("--tpm", type=float, metavar="N", help="With --over: tokens per minute at most.")
    @argument("--to", metavar="PATH", help="With --over: append rows to this .parquet or .jsonl file as they finish.")
    @argument("--retry-errors", action="store_true", help="With --over --name: send the rows that failed again.")
    @argument("--background", action="store_true", help="With --over: return at once; -o VAR gets the handle "
              "(.progress, .stop(), .result()).")
    @argument("-o", "--out", metavar="VAR", help="Store the Result in this variable.")
    @argument("--format", choices=FORMATS, help="Render as markdown, text, code or json.")
    @argument("--no-stream", action="store_true", help="Wait for the whole answer instead of streaming.")
    @argument("--dry-run", action="store_true", help="Show the request that would be sent (key redacted); send nothing.")
    @argument("--no-interpolate", action="store_true", help="Send {braces} as written.")
    @argument("-n", type=int, metavar="N", help="In a cell: N answers with seeds, side by side (how much they agree); "
              "%%cerebras history -n N: show the last N rows.")
    @line_cell_magic
    def cerebras(self, line: str, cell: Optional[str] = None):
        """Prompt a Cerebras model from a cell; the answer streams in, and the call lands in cm.history().

        Commands (line magic): %cerebras models | limits | history [-n N] | reset [NAME] | key | playground |
        rerun N

        Filling the prompt: {name}, {name.attr} and {name[key]} are filled from the notebook's variables;
        {{ and }} are literal braces; any other brace text (JSON, code, {x+1}) is sent as written. A {name}
        that is not defined is an error (write {{name}}, or use --no-interpolate). --dry-run shows the
        filled prompt. With --over DATA (a batch), {column} is filled from each row of a DataFrame, and {}
        is the value itself for a Series or a list.
        """
        args = self.cerebras.parser.parse_args(arg_split(line, posix=True))  # posix: quotes are removed
        if args.out is not None and (not args.out.isidentifier() or keyword.iskeyword(args.out)):
            raise UsageError(f"-o {args.out}: the name of a Python variable, e.g. -o answer")
        if cell is None:
            if args.words and args.words[0] in COMMANDS:
                return self._command(args.words[0], args.words[1:], args)
            if not args.words:
                raise UsageError("give a prompt (%cerebras Why is the sky blue?), a %%cerebras cell, or a command: "
                                 + ", ".join(COMMANDS))
            no_near_command(args.words)
            prompt = " ".join(args.words)
        else:
            if args.words:
                raise UsageError(f"unexpected text on the %%cerebras line: {' '.join(args.words)!r}; "
                                 "put the prompt in the cell body (quote flag values that contain spaces)")
            prompt = cell.strip("\n")
        return self._prompt(args, prompt)

    # -- a prompt ------------------------------------------------------------------------------
    def ask_from(self, args, prompt: str):
        """The cell's flags and body as an Ask (the same request the panel's copied cell describes)."""
        if not prompt.strip():
            raise UsageError("the prompt is empty: write it in the cell below %%cerebras")
        if args.chat and args.new:
            raise UsageError("use --chat NAME to continue a conversation or --new NAME to restart it, not both")
        try:
            if self.interpolate and not args.no_interpolate:
                prompt = fill_template(prompt, self.shell.user_ns, hint=INTERPOLATION_HINT)
            params, values = {}, self._values(args)
            for p in PARAMS:
                value = getattr(args, p.name)
                if p.name in GRID:  # a grid's cells set the values that vary
                    value = values[p.name][0] if len(values.get(p.name) or ()) == 1 else None
                elif p.escaped and value is not None:
                    value = [unescape(v) for v in value] if p.kind == "list" else unescape(value)
                params[p.name] = value
        except E.ParameterError as exc:
            raise UsageError(str(exc)) from None
        from ..core import Ask
        return Ask(prompt=prompt, endpoint="completion" if args.completion else "chat", params=params,
                   conversation=args.new or args.chat, new=bool(args.new), json=args.json, schema=args.schema,
                   extra=self._extra_fields(args), stream=False if args.no_stream else None, backend=args.backend,
                   source="magic")

    def _values(self, args) -> dict:
        """Each grid flag's values as typed (`-m a,b` gives two), every one checked: the line names the flag."""
        out = {}
        for name in GRID:
            raw = getattr(args, name)
            if raw is not None:
                p = BY_NAME[name]
                out[name] = [parse_value(p, item, "magic") for item in split_values(p, raw)]
        return out

    def _grid(self, args, prompt: str):
        """A comma list on -m/-t/--top-p/--seed/--max-tokens/-s (or -n N samples): every answer at once, side
        by side; the final grid, its summary and where the answers differ stay in the cell."""
        from IPython.display import display

        from ..core._compare import cells_of, run_grid
        ask = self.ask_from(args, prompt)
        if ask.conversation:
            raise UsageError("--chat/--new cannot be used with a grid: every answer would continue the same "
                             "conversation; drop the comma lists or the flag")
        try:
            cells = cells_of(ask, self._values(args), args.n, "magic")
        except E.ParameterError as exc:
            raise UsageError(str(exc)) from None
        if args.dry_run:
            for _, cell in cells:
                self._dry_run(cell)
            return None
        fmt = args.format or ("json" if (args.json or args.schema) else self.format)
        stream = self.stream if ask.stream is None else ask.stream
        grid = run_grid(self.session, cells, show=stream, rate=self.update_rate, fmt=fmt, cell_id=self._cell_id())
        if args.out:
            self.shell.user_ns[args.out] = grid
        bundle = grid.bundle()
        if _terminal():
            print(bundle["text/plain"])
        else:
            display(bundle, raw=True)
        return None

    def _panel(self, args, prompt: str, values: dict):
        """`%%cerebras --panel`: the cell's request in a live panel, run once at once; the cell's {name}
        fields stay as written (filled at each run), and Write back keeps --panel and -o."""
        if any(len(v) > 1 for v in values.values()) or (args.n or 0) > 1:
            raise UsageError("--panel shows one request: give one value per flag (no comma lists, no -n)")
        if args.dry_run:
            raise UsageError("--panel and --dry-run: pick one")
        from ._playground import Playground
        fill = None
        if self.interpolate and not args.no_interpolate:
            ns = self.shell.user_ns
            fill = lambda text: fill_template(text, ns, hint=INTERPOLATION_HINT)  # noqa: E731
            try:
                fill(prompt)  # a {name} that is not defined: said now, as a cell says it
            except E.ParameterError as exc:
                raise UsageError(str(exc)) from None
            args.no_interpolate = True  # the panel holds the body as written
        ask = self.ask_from(args, prompt)
        keep = ["--panel"] + (["-o", args.out] if args.out else []) + (["--format", args.format] if args.format else [])
        panel = Playground.from_ask(ask, session=self.session, fill=fill, keep=keep)
        if args.out:
            self.shell.user_ns[args.out] = panel
        panel.run()
        return panel

    def _extra_fields(self, args) -> dict:
        """Fields with no parameter of their own: --param KEY=JSON, and --predict VAR's prediction."""
        extra = _extra_fields(args.param)
        if args.predict:
            if args.predict not in self.shell.user_ns:
                raise UsageError(f"--predict {args.predict}: no variable named {args.predict!r} in the notebook")
            extra["prediction"] = {"type": "content", "content": str(self.shell.user_ns[args.predict])}
        return extra

    def _prompt(self, args, prompt: str):
        from ._batchcell import BATCH_FLAGS, batch_cell  # --over: a batch over a variable's rows
        if any(getattr(args, flag) not in (None, False) for flag in BATCH_FLAGS):
            return batch_cell(self, args, prompt)
        if args.tools or args.max_steps is not None or args.approve:  # a tool loop (notebook/_toolcell.py)
            from ._toolcell import tool_cell
            return tool_cell(self, args, prompt)
        try:
            values = self._values(args)
        except E.ParameterError as exc:
            raise UsageError(str(exc)) from None
        if args.n is not None and args.n < 1:
            raise UsageError(f"-n must be an integer ≥ 1 (got {args.n}): the number of answers to sample")
        if args.panel:
            return self._panel(args, prompt, values)
        if any(len(v) > 1 for v in values.values()) or (args.n or 0) > 1:
            return self._grid(args, prompt)
        ask = self.ask_from(args, prompt)
        if args.dry_run:
            return self._dry_run(ask)
        from ..display import CellRenderer
        fmt = args.format or ("json" if (args.json or args.schema) else self.format)
        stream = self.stream if ask.stream is None else ask.stream
        renderer = CellRenderer(fmt=fmt, rate=self.update_rate, stream=stream, wrap=self._fork_view(ask))
        result = self.session.run(ask, observers=[renderer], errors="return", cell_id=self._cell_id())
        result.display_format = fmt
        return self._shown(result, renderer, args.out)

    def _fork_view(self, ask):
        """With logprobs in a live kernel, the final render becomes a ForkView (its heat-map forks on click);
        elsewhere (a terminal, a plain shell) it stays static."""
        if ask.params.get("logprobs") is None or getattr(self.shell, "kernel", None) is None:
            return None
        from ._forkview import fork_bundle
        session = self.session
        return lambda result, bundle: fork_bundle(result, bundle, session)

    def _shown(self, result, renderer, out: Optional[str] = None):
        """What the cell returns once the renderer has shown `result`; an error is raised as its one line."""
        if result.status == "error":
            exc = result.exception
            if isinstance(exc, E.ParameterError):
                raise UsageError(str(exc)) from None
            raise exc.with_traceback(None) from None
        if out:
            self.shell.user_ns[out] = result
        if renderer._terminal:  # a terminal would print an empty "Out[n]:" for it: set `_` ourselves
            self.shell.displayhook.update_user_ns(result)
            return None
        result._shown = True  # already rendered in this cell: the display hook must not show it again
        return result

    def _dry_run(self, ask):
        from IPython.display import display

        from ..display import dry_run_bundle
        try:
            request, estimate = self.session.dump(ask), self.session.estimate(ask)
        except E.CerebrasError as exc:
            raise UsageError(str(exc)) from None
        display(dry_run_bundle(request, estimate), raw=True)
        return None

    def _cell_id(self) -> Optional[str]:
        kernel = getattr(self.shell, "kernel", None)
        try:
            return kernel.get_parent().get("metadata", {}).get("cellId")
        except Exception:
            return None

def _terminal() -> bool:
    from ..display._cell import _is_terminal
    return _is_terminal()


def _extra_fields(items) -> dict:
    """--param KEY=JSON values (a value that is not JSON is sent as a string)."""
    out = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r}: write KEY=VALUE with a JSON value, e.g. --param 'n=2'")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


_ONE_LINE_QUESTION = re.compile(r"^(\s*)%cerebras[ \t]+(\S.*?\?+)[ \t]*$")


def keep_question_marks(lines: list) -> list:
    """IPython takes a line that ends with `?` for a help request (`%cerebras Why is the sky blue?` would
    show help for `blue`). A one-line prompt is a question, so such a line is sent to the magic as written;
    `%cerebras?` alone is still the magic's help."""
    out = []
    for line in lines:
        m = _ONE_LINE_QUESTION.match(line.rstrip("\n"))
        out.append(f"{m.group(1)}get_ipython().run_line_magic('cerebras', {m.group(2)!r})\n" if m else line)
    return out


def load_ipython_extension(ip) -> None:
    magics = Cerebras(shell=ip)
    ip.register_magics(magics)
    if magics not in ip.configurables:
        ip.configurables.append(magics)
    if keep_question_marks not in ip.input_transformers_cleanup:
        ip.input_transformers_cleanup.append(keep_question_marks)
