"""Search watches and cheap checks of long lists: a query kept in the watch list (``query``),
its members as the registry's own search returns them (``members``), the last-update dates of a
list of ids without their records (``dates``), and what a query gained and lost (``news``)."""
