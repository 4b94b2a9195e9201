"""`%cerebras models | limits | history | reset | key | playground | rerun`: the line commands, a mixin of
the `Cerebras` magics (they read its session and settings), and the check that a typo of one is not sent
as a prompt."""
from __future__ import annotations

from IPython.core.error import UsageError

from .. import _errors as E

COMMANDS = ("models", "history", "reset", "key", "playground", "rerun", "limits")
# what %cerebras history shows (cm.history() has every column)
HISTORY_VIEW = ("started_at", "source", "model", "prompt", "status", "finish_reason", "completion_tokens", "ttft",
                "tokens_per_second", "error")


class LineCommands:
    """`%cerebras WORD ...`: each `_cmd_WORD(rest, args)` gets the words after it and the parsed flags."""

    def _command(self, cmd: str, rest: list, args):
        try:
            return getattr(self, f"_cmd_{cmd}")(rest, args)
        except E.ParameterError as exc:
            raise UsageError(str(exc)) from None

    def _cmd_models(self, rest, args):
        """The server's live list, with what its public catalogue adds (prices, limits, capabilities)."""
        from ..display import models_frame
        try:
            client = self.session.client(args.backend)
            models = client.models()
        except E.CerebrasError as exc:
            raise exc.with_traceback(None) from None
        return models_frame([m.model_dump() for m in models], self.session.catalog.public(client))

    def _cmd_limits(self, rest, args):
        """The rate limits the server reported with its latest answer, bucket by bucket."""
        _no_words("limits", rest)
        from ..display import limits_frame
        client = self.session.client(args.backend)
        seen = self.session.limits.get(client.base_url)
        if seen is None:
            print(f"no answer from {client.label} yet in this session: its rate limits come with each answer")
            return None
        return limits_frame(*seen)

    def _cmd_history(self, rest, args):
        """The readable columns; the index is each row's number in this session (what `rerun N` takes),
        kept when -n shows only the last rows."""
        if len(rest) > 1 or (rest and not rest[0].isdigit()):
            raise UsageError(f"%cerebras history [N]: N is how many of the last rows to show (got {' '.join(rest)!r})")
        n = args.n if args.n is not None else (int(rest[0]) if rest else None)
        if n is not None and n < 1:
            raise UsageError(f"%cerebras history -n N: N must be an integer ≥ 1, the last rows to show (got {n})")
        df = self.session.history.to_dataframe()
        df = df[[c for c in HISTORY_VIEW if c in df.columns]]
        return df.tail(n) if n is not None else df

    def _cmd_reset(self, rest, args):
        unknown = [name for name in rest if name not in self.session.conversations]
        if unknown:
            have = ", ".join(self.session.conversations) or "none yet"
            raise UsageError(f"%cerebras reset {unknown[0]}: no conversation of that name (conversations: {have})")
        names = self.session.reset_conversations(rest or None)
        plural = "" if len(names) == 1 else "s"
        print(f"forgot {len(names)} conversation{plural}" + (f": {', '.join(names)}" if names else ""))

    def _cmd_key(self, rest, args):
        import getpass
        key = getpass.getpass("Cerebras API key (kept in memory only, never shown): ").strip()
        if not key:
            raise UsageError("no key entered; nothing changed")
        self.session.configure(api_key=key)
        print("API key set for this kernel session (memory only).")

    def _cmd_playground(self, rest, args):
        _no_words("playground", rest)
        from ._playground import Playground
        return Playground(session=self.session)

    def _cmd_rerun(self, rest, args):
        if len(rest) != 1 or not rest[0].lstrip("-").isdigit():
            raise UsageError("%cerebras rerun N: N is a row number of %cerebras history (e.g. %cerebras rerun 0; "
                             "-1 is the last row)")
        from ..display import CellRenderer
        renderer = CellRenderer(fmt=self.format, rate=self.update_rate, stream=True)
        return self._shown(self.session.replay(int(rest[0]), observers=[renderer], errors="return"), renderer)


def _no_words(command: str, rest: list) -> None:
    if rest:
        raise UsageError(f"%cerebras {command} takes no words after it (got {' '.join(rest)!r})")


def no_near_command(words: list) -> None:
    """`%cerebras histroy` is a typo, not a prompt: say so rather than send it."""
    first = words[0]
    if len(words) > 3 or not first.isalpha() or not first.islower():
        return
    import difflib
    close = difflib.get_close_matches(first, COMMANDS, n=1, cutoff=0.75)
    if close:
        raise UsageError(f"unknown command {first!r}; did you mean {close[0]}? (a one-line prompt that starts with "
                         f"such a word: %%cerebras cell)")
