"""One call's life inside `Session.run`/`arun`: begun, fed, ended exactly once with its history row; and
the answer as the next request's assistant turn (chat continuation and the tool loop share it)."""
from __future__ import annotations

import json
import weakref
from typing import Optional

from .. import _errors as E
from ._ask import Ask, schema_class
from ._result import Result


def assistant_turn(r: Result) -> dict:
    """The answer as the next request's assistant message: a reasoning model's thinking goes back in
    `reasoning`, the field Cerebras reads (it refuses `reasoning_content` with a 400); the tool calls it
    made go back in `tool_calls` (arguments as the model wrote them; no content when it wrote none)."""
    turn = {"role": "assistant", "content": r.text}
    if r.reasoning:
        turn["reasoning"] = r.reasoning
    own = [s for s in r.tool_calls if s.request == r.step]  # (a tool loop's final Result lists every step)
    if own:
        turn["tool_calls"] = [s.wire() for s in own]
        if not r.text:
            del turn["content"]
    return turn


def _close(live) -> None:
    if live is not None:
        live.close()


async def _aclose(live) -> None:
    if live is not None:
        await live.aclose()


class _Call:
    """One call's life, whatever moves its bytes: begun (prepared, observers told), fed chunks or a whole
    response, then ended exactly once (ok, error or interrupted) with its row written."""

    def __init__(self, session, ask: Ask, observers: list, cell_id, replay_of, result=None):
        self.session, self.ask, self.observers = session, ask, observers
        if result is None:
            result = Result()
        r = self.result = result
        r.endpoint, r.source, r.cell_id, r.replay_of = ask.endpoint, ask.source, cell_id, replay_of
        r.prompt, r.model = r.prompt or ask.prompt_text, r.model or ask.get("model") or ""
        r.__dict__["_session"] = weakref.ref(session)  # where `r.fork(...)` sends the branch
        self.sent: Optional[Ask] = None
        self.client = None

    def begin(self, asynchronous: bool = False):
        """(the client that sends, the Ask as sent). The catalogue is always read with the sync client:
        it is asked once per server and session, and its answer is the same for both."""
        sync = self.session.client(self.ask.backend)
        client = self.session.client(self.ask.backend, asynchronous=True) if asynchronous else sync
        self.result.backend = client.label
        sent, why = self.session._prepare(self.ask, sync)
        self.sent, self.client = sent, sync
        r = self.result
        r.ask, r.model, r.model_source = sent, sent.get("model"), why
        r.system = sent.messages[0]["content"] if sent.messages and sent.messages[0].get("role") == "system" else None
        kind, first, params, extra = sent.wire()
        r.messages = first if kind == "chat" else []
        r.params = {k: v for k, v in {**params, **extra}.items() if k != "model"}
        note = client.loading_note
        for ob in self.observers:
            if note and hasattr(ob, "note"):
                ob.note(note)
            ob.start(r)
        return client, sent

    def opened(self, live) -> None:
        self.result.ratelimit, self.result.t_sent = live.ratelimit, live.started_at

    def chunk(self, chunk) -> None:
        new = self.result.add_chunk(chunk)
        for ob in self.observers:
            ob.update(self.result, new)

    def response(self, response) -> None:
        self.result.ratelimit = response.ratelimit
        self.result.add_response(response)

    def done(self) -> Result:
        self._parse_structured()
        self.result.finish("ok")
        self._remember()
        self._end()
        return self.result

    def interrupted(self) -> None:
        self.result.finish("interrupted", "stopped by the user")
        self._remember()
        self._end()

    def failed(self, exc: BaseException) -> None:
        r = self.result
        r.finish("error", exc)
        r.exception = exc
        if isinstance(exc, E.CerebrasError):
            exc.result = r  # the partial answer and figures, for whoever catches the error
        self._end()

    def _remember(self) -> None:
        """A chat that names a conversation continues it with this answer (a partial one included), or with
        the tool calls it made (a tool loop's next request then sends their results)."""
        sent, r = self.sent, self.result
        if sent is None or sent.endpoint != "chat" or not sent.conversation or not (r.text or r.tool_calls):
            return
        convo = self.session.conversation(sent.conversation)
        convo.messages = sent.sent_messages() + [assistant_turn(r)]

    def _end(self) -> None:
        r = self.result
        if self.client is not None and r.usage is not None:
            r.cost_usd = self.session.catalog.cost(self.client, r.model, r.usage)
        if self.client is not None and r.ratelimit is not None:
            self.session.limits[self.client.base_url] = (r.started_at, r.ratelimit)
        try:
            for ob in self.observers:
                ob.finish(r)
        finally:
            self.session.history.append(r.to_row())

    def _parse_structured(self) -> None:
        """Fill `result.parsed`, or raise ResponseFormatError (the text stays on the Result)."""
        sent, r = self.sent, self.result
        if sent is None or (sent.schema is None and not sent.json):
            return
        if r.finish_reason == "length":
            raise E.ResponseFormatError("the JSON answer was cut at max tokens (finish_reason=length); raise --max-tokens")
        cls = schema_class(sent.schema)
        try:
            r.parsed = cls.model_validate_json(r.text) if cls is not None else json.loads(r.text)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            first = str(exc).splitlines()
            what = f"schema {cls.__name__}" if cls is not None else "JSON"
            raise E.ResponseFormatError(f"the answer is not valid {what}: {' '.join(first[:3])[:200]}") from None
