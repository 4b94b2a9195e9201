"""The %%cerebras cell magic and %cerebras line commands.

Flags are parsed by IPython's magic_arguments (quoting works, `%%cerebras?` documents them, a bad flag is
one UsageError line); every default is a trait of the `Cerebras` configurable (`%config Cerebras.model =
...`). Calls go through `session.run`, the one request path every front end shares. Only IPython and
traitlets are imported here: httpx, pydantic and pandas load on first use.
"""
from __future__ import annotations

import getpass
import string
from typing import Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split
from traitlets import Bool, CFloat, CInt, Enum, Unicode, observe

from . import session

FORMATS = ("markdown", "text", "code", "json")
COMMANDS = ("models", "history", "reset", "key", "playground")
# what %cerebras history shows (cm.history() has every column)
HISTORY_VIEW = ("started_at", "source", "model", "prompt", "status", "finish_reason", "completion_tokens", "ttft",
                "tokens_per_second", "error")


@magics_class
class Cerebras(Magics):
    """Defaults for %%cerebras cells; a per-cell flag beats them."""

    backend = Enum(("auto", "cerebras", "local"), "auto",
                   help="auto: Cerebras with a key (or CEREBRAS_BASE_URL), else the local SmolLM2 if installed.").tag(config=True)
    model = Unicode(None, allow_none=True,
                    help="Model id used when a cell gives no -m (None: llama3.1-8b, or the local model).").tag(config=True)
    temperature = CFloat(None, allow_none=True, help="Sampling temperature, 0 to 1.5 (None: server default).").tag(config=True)
    top_p = CFloat(None, allow_none=True, help="Nucleus sampling, 0 to 1.").tag(config=True)
    max_tokens = CInt(None, allow_none=True, help="Cap on generated tokens.").tag(config=True)
    system = Unicode(None, allow_none=True, help="Default system prompt.").tag(config=True)
    stream = Bool(True, help="Stream answers into the cell as they arrive.").tag(config=True)
    format = Enum(FORMATS, "markdown", help="How the answer is rendered.").tag(config=True)
    update_rate = CFloat(15.0, help="Most display updates per second while streaming.").tag(config=True)
    interpolate = Bool(True, help="Fill {name} from the user namespace.").tag(config=True)
    base_url = Unicode(None, allow_none=True, help="API base URL (else CEREBRAS_BASE_URL, else Cerebras).").tag(config=True)
    timeout = CFloat(60.0, help="Seconds before a request times out.").tag(config=True)
    max_retries = CInt(2, help="Retries on connection errors, 408/409/429/5xx (before any body).").tag(config=True)
    history_path = Unicode(None, allow_none=True,
                           help="SQLite file for the durable history ('' for memory only; None: default).").tag(config=True)

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.conversations: dict = {}
        self._apply_client_options()
        if self.history_path is not None:
            session.configure(history_path=self.history_path or None)

    @observe("base_url", "timeout", "max_retries", "model", "backend")
    def _client_options_changed(self, change):
        self._apply_client_options()

    @observe("history_path")
    def _history_path_changed(self, change):
        session.configure(history_path=change["new"] or None)

    def _apply_client_options(self):
        opts = {"model": self.model, "timeout": self.timeout, "max_retries": self.max_retries, "backend": self.backend}
        if self.base_url:
            opts["base_url"] = self.base_url
        session.configure(**opts)

    @magic_arguments()
    @argument("words", nargs="*", help="A one-line prompt for %%cerebras, or a command: " + ", ".join(COMMANDS))
    @argument("-m", "--model", help="Model id (see %%cerebras models).")
    @argument("--backend", choices=("auto", "cerebras", "local"), help="Who answers (default: %%config Cerebras.backend).")
    @argument("-t", "--temperature", type=float, help="Sampling temperature, 0 to 1.5.")
    @argument("--top-p", type=float, help="Nucleus sampling, 0 to 1.")
    @argument("--max-tokens", type=int, help="Most tokens to generate.")
    @argument("--min-tokens", type=int, help="Fewest tokens to generate (-1: max sequence length).")
    @argument("--seed", type=int, help="Seed for reproducible sampling.")
    @argument("--stop", action="append", metavar="TEXT", help="Stop string (\\n means a newline); repeat for up to 4.")
    @argument("-s", "--system", help="System prompt (chat); \\n means a newline.")
    @argument("--chat", nargs="?", const="default", metavar="NAME", help="Continue a conversation (default: 'default').")
    @argument("--new", nargs="?", const="default", metavar="NAME", help="Start a conversation afresh, then continue it.")
    @argument("--logprobs", nargs="?", const=5, type=int, metavar="K", help="Show token probabilities with top-K alternatives (K default 5).")
    @argument("--completion", action="store_true", help="Use /v1/completions (raw text continuation).")
    @argument("--echo", action="store_true", help="Completion: include the prompt in the answer.")
    @argument("--raw-tokens", action="store_true", help="Completion: return raw token ids.")
    @argument("--grammar-root", metavar="ROOT", help="Completion: grammar root (root, fcall, value, object, ...).")
    @argument("--json", action="store_true", help="Ask for a JSON object; the parsed value is in result.parsed.")
    @argument("--schema", metavar="NAME", help="A pydantic model class in your namespace: strict JSON schema output.")
    @argument("-o", "--out", metavar="VAR", help="Store the Result in this variable.")
    @argument("--format", choices=FORMATS, help="Render as markdown, text, code or json.")
    @argument("--no-stream", action="store_true", help="Wait for the whole answer instead of streaming.")
    @argument("--dry-run", action="store_true", help="Show the request that would be sent (key redacted); send nothing.")
    @argument("--user", metavar="ID", help="End-user id sent to the API.")
    @argument("--no-interpolate", action="store_true", help="Send {braces} as written.")
    @argument("-n", type=int, metavar="N", help="%%cerebras history: show the last N rows.")
    @line_cell_magic
    def cerebras(self, line: str, cell: Optional[str] = None):
        """Prompt a Cerebras model from a cell; the answer streams in, and the call lands in cm.history().

        Commands (line magic): %cerebras models | history [-n N] | reset [NAME] | key | playground
        """
        args = self.cerebras.parser.parse_args(arg_split(line, posix=True))  # posix: quotes are removed
        if cell is None:
            if args.words and args.words[0] in COMMANDS:
                return self._command(args.words[0], args.words[1:], args)
            if not args.words:
                raise UsageError("give a prompt (%cerebras Why is the sky blue?), a %%cerebras cell, or a command: "
                                 + ", ".join(COMMANDS))
            prompt = " ".join(args.words)
        else:
            if args.words:
                raise UsageError(f"unexpected text on the %%cerebras line: {' '.join(args.words)!r}; "
                                 "put the prompt in the cell body (quote flag values that contain spaces)")
            prompt = cell.strip("\n")
        return self._prompt(args, prompt)

    # -- a prompt ------------------------------------------------------------------------------
    def _prompt(self, args, prompt: str):
        if not prompt.strip():
            raise UsageError("the prompt is empty: write it in the cell below %%cerebras")
        if self.interpolate and not args.no_interpolate:
            prompt = interpolate(prompt, self.shell.user_ns)
        endpoint = "completion" if args.completion else "chat"
        _check_mode_flags(args)
        schema = self._schema(args.schema) if args.schema else None
        system = _unescape(args.system) if args.system is not None else self.system
        name = args.new or args.chat
        messages = None
        if endpoint == "chat" and name:
            messages = self._conversation(name, system, fresh=bool(args.new)) + [{"role": "user", "content": prompt}]
        client = self._client(args.backend)
        params = self._params(args, endpoint)
        stream = self.stream and not args.no_stream
        fmt = args.format or ("json" if (args.json or schema is not None) else self.format)
        if args.dry_run:
            return self._dry_run(endpoint, prompt, system, messages, schema, args, params, stream)
        from .render import CellRenderer
        renderer = CellRenderer(fmt=fmt, rate=self.update_rate, stream=stream)
        try:
            result = session.run(endpoint, prompt, client=client, system=system if messages is None else None,
                                 messages=messages, schema=schema, json_mode=args.json, logprobs=args.logprobs,
                                 stream=stream, observers=[renderer], source="magic", cell_id=self._cell_id(),
                                 reraise_interrupt=False, **params)
        except Exception as exc:
            from .errors import CerebrasError, ParameterError
            if isinstance(exc, ParameterError):
                raise UsageError(str(exc)) from None
            if isinstance(exc, CerebrasError):
                raise exc.with_traceback(None) from None
            raise
        result.display_format = fmt
        if endpoint == "chat" and name and result.status in ("ok", "interrupted") and result.text:
            convo = self.conversations[name]
            convo[:] = messages + [{"role": "assistant", "content": result.text}]
        if args.out:
            self.shell.user_ns[args.out] = result
        if renderer._terminal:  # a terminal would print an empty "Out[n]:" for it: set `_` ourselves
            self.shell.displayhook.update_user_ns(result)
            return None
        result._shown = True  # already rendered in this cell: the display hook must not show it again
        return result

    def _client(self, backend: Optional[str]):
        """The session client for this cell's backend; says so once when the local model must load."""
        from .errors import CerebrasError
        try:
            client = session.get_client(backend)
        except CerebrasError as exc:
            raise UsageError(str(exc)) from None
        if client.backend == "local":
            from . import local
            if not local.loaded():
                print("loading the local model (SmolLM2-135M-Instruct via llama.cpp, once per kernel)…", flush=True)
        return client

    def _params(self, args, endpoint: str) -> dict:
        p = {"model": args.model or self.model,
             "temperature": args.temperature if args.temperature is not None else self.temperature,
             "top_p": args.top_p if args.top_p is not None else self.top_p, "seed": args.seed,
             "stop": _stops(args.stop), "user": args.user}
        max_tokens = args.max_tokens if args.max_tokens is not None else self.max_tokens
        if endpoint == "chat":
            p.update(max_completion_tokens=max_tokens, min_completion_tokens=args.min_tokens)
        else:
            p.update(max_tokens=max_tokens, min_tokens=args.min_tokens, echo=args.echo or None,
                     return_raw_tokens=args.raw_tokens or None, grammar_root=args.grammar_root)
        return p

    def _conversation(self, name: str, system: Optional[str], fresh: bool) -> list:
        convo = self.conversations.setdefault(name, [])
        if fresh:
            convo.clear()
        if system is not None:
            if convo and convo[0]["role"] == "system":
                convo[0] = {"role": "system", "content": system}
            else:
                convo.insert(0, {"role": "system", "content": system})
        return list(convo)

    def _schema(self, name: str):
        obj = self.shell.user_ns.get(name)
        if obj is None:
            raise UsageError(f"--schema {name}: no such name in the notebook; define a pydantic model class first")
        if not (isinstance(obj, type) and hasattr(obj, "model_json_schema")):
            raise UsageError(f"--schema {name}: {name} is a {type(obj).__name__}, not a pydantic BaseModel class")
        return obj

    def _dry_run(self, endpoint, prompt, system, messages, schema, args, params, stream):
        from IPython.display import display
        try:
            first, api_params = session.prepare(endpoint, prompt, system=system if messages is None else None,
                                                messages=messages, schema=schema, json_mode=args.json,
                                                logprobs=args.logprobs, **params)
            request = session.get_client(args.backend).dump_request(endpoint, first, stream=stream, **api_params)
        except Exception as exc:
            from .errors import CerebrasError
            if isinstance(exc, CerebrasError):
                raise UsageError(str(exc)) from None
            raise
        display({"application/json": request, "text/plain": _pretty(request)}, raw=True)
        return None

    def _cell_id(self) -> Optional[str]:
        kernel = getattr(self.shell, "kernel", None)
        try:
            return kernel.get_parent().get("metadata", {}).get("cellId")
        except Exception:
            return None

    # -- line commands -------------------------------------------------------------------------
    def _command(self, cmd: str, rest: list, args):
        if cmd == "models":
            import pandas as pd
            models = self._client(args.backend).models()
            return pd.DataFrame([m.model_dump() for m in models]).set_index("id")
        if cmd == "history":
            n = args.n if args.n is not None else (int(rest[0]) if rest and rest[0].isdigit() else None)
            df = session.history(n=n)
            return df[[c for c in HISTORY_VIEW if c in df.columns]]
        if cmd == "reset":
            names = rest or list(self.conversations)
            for name in names:
                self.conversations.pop(name, None)
            print(f"forgot {len(names)} conversation(s)" + (f": {', '.join(names)}" if names else ""))
            return None
        if cmd == "key":
            key = getpass.getpass("Cerebras API key (kept in memory only, never shown): ").strip()
            if not key:
                raise UsageError("no key entered; nothing changed")
            session.configure(api_key=key)
            print("API key set for this kernel session (memory only).")
            return None
        from .widget import Playground
        return Playground()


def _check_mode_flags(args) -> None:
    if not args.completion:
        for flag, on in (("--echo", args.echo), ("--raw-tokens", args.raw_tokens), ("--grammar-root", args.grammar_root)):
            if on:
                raise UsageError(f"{flag} works only with --completion")
    else:
        for flag, on in (("--chat", args.chat), ("--new", args.new), ("--json", args.json), ("--schema", args.schema),
                         ("-s/--system", args.system)):
            if on:
                raise UsageError(f"{flag} needs the chat endpoint; drop --completion")
    if args.chat and args.new:
        raise UsageError("use --chat NAME to continue a conversation or --new NAME to restart it, not both")
    if args.json and args.schema:
        raise UsageError("use --json or --schema NAME, not both")
    if args.stop and len(args.stop) > 4:
        raise UsageError(f"--stop given {len(args.stop)} times; at most 4 stop strings are allowed")


_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\r": "\r", "\\\\": "\\"}


def _unescape(text: str) -> str:
    """\\n, \\t, \\r and \\\\ in --stop and -s values: a cell's first line cannot hold a real newline."""
    import re
    return re.sub(r"\\[ntr\\]", lambda m: _ESCAPES[m.group()], text)


def _stops(stops):
    if not stops:
        return None
    decoded = [_unescape(s) for s in stops]
    return decoded[0] if len(decoded) == 1 else decoded


def interpolate(template: str, namespace: dict) -> str:
    """Fill {name}, {obj.attr} and {d[key]} from the namespace; {{ and }} are literal braces."""
    try:
        return string.Formatter().vformat(template, (), _Namespace(namespace))
    except KeyError as exc:
        name = exc.args[0]
        raise UsageError(f"{{{name}}} in the prompt is not defined in the notebook; define it, write {{{{{name}}}}} "
                         "for literal braces, or use --no-interpolate") from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise UsageError(f"cannot fill the prompt's {{...}} fields ({exc}); write {{{{ and }}}} for literal braces, "
                         "or use --no-interpolate") from None


class _Namespace(dict):
    def __missing__(self, key):
        raise KeyError(key)


def _pretty(obj) -> str:
    import json
    return json.dumps(obj, indent=2, ensure_ascii=False)


def load_ipython_extension(ip) -> None:
    magics = Cerebras(shell=ip)
    ip.register_magics(magics)
    if magics not in ip.configurables:
        ip.configurables.append(magics)
