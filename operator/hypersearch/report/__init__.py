"""The pictures of a search: a static HTML report and a read-only web view."""
