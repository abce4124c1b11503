<?php
// PHP scalars as tag values: the extension converts them as PHP's string
// conversion does, which differs from Go's formatting for some of them.
pinba_tag_set("int", 42);
pinba_tag_set("float", 1.5);
pinba_tag_set("true", true);
pinba_tag_set("false", false);
// PHP 8 deprecates null for a string parameter: silenced, the value is "".
@pinba_tag_set("null", null);
pinba_tag_set("big", 1e20);
