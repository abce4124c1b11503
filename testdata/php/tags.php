<?php
// Request tags set at the start and during the request, overwritten and
// deleted; a timer tag reuses a request tag's words.
pinba_tag_set("env", "prod");
pinba_tag_set("build", "42");
$t = pinba_timer_start(["group" => "render", "env" => "prod"]);
usleep(10000);
pinba_timer_stop($t);
pinba_tag_set("phase", "render");
pinba_tag_set("build", "43");
pinba_tag_set("tmp", "x");
pinba_tag_delete("tmp");
pinba_tag_set("count", 7);
pinba_tag_set("ratio", 0.25);
