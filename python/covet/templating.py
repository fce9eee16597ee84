"""Jinja2 templates: ``templates.TemplateResponse(request, "page.html", {...})``.

Same API as Starlette's ``starlette.templating``: ``Jinja2Templates(directory=...)``
or ``Jinja2Templates(env=...)``; templates see ``request`` and ``url_for(name,
**params)``, which gives the absolute URL of a named route as ``request.url_for``
does. With ``directory=``, every template is autoescaped (as in Starlette): ``{{ x }}``
is HTML-escaped unless marked safe. Rendering happens when the response is built,
in the handler.

Needs ``jinja2`` (``pip install 'covetpy[templates]'``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Union, overload

try:
    import jinja2
except ModuleNotFoundError as exc:
    raise ImportError(
        "covet.templating needs the 'jinja2' package: pip install 'covetpy[templates]'"
    ) from exc

from covet.background import BackgroundTask
from covet.datastructures import URL
from covet.requests import Request
from covet.responses import HTMLResponse
from covet.types import Receive, Scope, Send

__all__ = ["Jinja2Templates"]

PathLike = Union[str, "os.PathLike[str]"]
ContextProcessor = Callable[[Request], Mapping[str, Any]]
HeadersInput = Union[Mapping[str, str], None]


@jinja2.pass_context
def _url_for(context: Mapping[str, Any], name: str, /, **path_params: Any) -> URL:
    request: Request = context["request"]
    return request.url_for(name, **path_params)


class _TemplateResponse(HTMLResponse):
    """An HTML response rendered from a template; keeps ``template`` and
    ``context`` so that tests can look at what was rendered."""

    def __init__(
        self,
        template: jinja2.Template,
        context: dict[str, Any],
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.template = template
        self.context = context
        content = template.render(context)
        super().__init__(content, status_code, headers, media_type, background)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's test client asks for the template and context this way.
        if "http.response.debug" in (scope.get("extensions") or {}):
            await send(
                {
                    "type": "http.response.debug",
                    "info": {"template": self.template, "context": self.context},
                }
            )
        await super().__call__(scope, receive, send)


class Jinja2Templates:
    """A Jinja2 environment plus ``TemplateResponse``.

    - ``directory``: a folder (or a list of folders, searched in order) to load
      templates from; the environment autoescapes every template.
    - ``env``: a ready ``jinja2.Environment`` instead (its own loader and autoescape
      settings apply).
    - ``context_processors``: callables ``request -> dict`` merged into every
      template's context.

    ``url_for`` is added to the environment's globals unless it already has one.
    """

    def __init__(
        self,
        directory: PathLike | Sequence[PathLike] | None = None,
        *,
        context_processors: list[ContextProcessor] | None = None,
        env: jinja2.Environment | None = None,
        **env_options: Any,
    ) -> None:
        if (directory is None) == (env is None):
            raise ValueError("either 'directory' or 'env' arguments must be passed")
        if env_options:
            warnings.warn(
                "Extra environment options are deprecated. Use a preconfigured "
                "jinja2.Environment instead.",
                DeprecationWarning,
                stacklevel=2,
            )
        self.context_processors: list[ContextProcessor] = list(context_processors or [])
        if env is None:
            env_options.setdefault("loader", jinja2.FileSystemLoader(directory))  # type: ignore[arg-type]
            env_options.setdefault("autoescape", True)
            env = jinja2.Environment(**env_options)
        self.env = env
        self.env.globals.setdefault("url_for", _url_for)

    def get_template(self, name: str) -> jinja2.Template:
        return self.env.get_template(name)

    @overload
    def TemplateResponse(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> _TemplateResponse: ...

    @overload
    def TemplateResponse(
        self,
        name: str,
        context: dict[str, Any] | None = None,
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> _TemplateResponse: ...

    def TemplateResponse(self, *args: Any, **kwargs: Any) -> _TemplateResponse:
        """``TemplateResponse(request, name, context=None, status_code=200,
        headers=None, media_type=None, background=None)``.

        The older ``TemplateResponse(name, {"request": request, ...})`` form still
        works, with a ``DeprecationWarning``.
        """
        if (args and isinstance(args[0], str)) or (not args and "request" not in kwargs):
            warnings.warn(
                "The `name` is not the first parameter anymore. The first parameter "
                "should be the `Request` instance.\nReplace "
                '`TemplateResponse(name, {"request": request})` by '
                "`TemplateResponse(request, name)`.",
                DeprecationWarning,
                stacklevel=2,
            )
            options = _bind(args, kwargs, ("name", *_OPTIONS))
            context = dict(options["context"] or {})
            if "request" not in context:
                raise ValueError('context must include a "request" key')
            request = context["request"]
        else:
            options = _bind(args, kwargs, ("request", "name", *_OPTIONS))
            request = options["request"]
            context = dict(options["context"] or {})
            context.setdefault("request", request)
        name = options["name"]
        if not isinstance(name, str):
            raise TypeError(f"the template name must be a str, got {type(name).__name__}")
        for processor in self.context_processors:
            context.update(processor(request))
        return _TemplateResponse(
            self.get_template(name),
            context,
            status_code=options["status_code"],
            headers=options["headers"],
            media_type=options["media_type"],
            background=options["background"],
        )


_OPTIONS = ("context", "status_code", "headers", "media_type", "background")
_DEFAULTS: dict[str, Any] = {
    "context": None,
    "status_code": 200,
    "headers": None,
    "media_type": None,
    "background": None,
}


def _bind(args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Positional and keyword arguments to one dict, as a signature would bind them."""
    if len(args) > len(names):
        raise TypeError(f"TemplateResponse() takes at most {len(names)} arguments")
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise TypeError(f"TemplateResponse() got an unexpected keyword argument {key!r}")
        if key in bound:
            raise TypeError(f"TemplateResponse() got multiple values for argument {key!r}")
        bound[key] = value
    for key in names:
        if key not in bound:
            if key not in _DEFAULTS:
                raise TypeError(f"TemplateResponse() missing required argument {key!r}")
            bound[key] = _DEFAULTS[key]
    return bound
