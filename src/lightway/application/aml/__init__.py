"""AML monitoring (docs/aml.md): versioned rules (``rules``), inline checks inside the
payment skeleton (``inline``), batch rules (``batch``), sanctions lists and name screening
(``sanctions``), alerts and cases with a maker-checker filing workflow (``alerts``,
``cases``) and what an approved filing reports (``filing``)."""
