<?php
// pinba_flush in the middle of a request: the first packet holds the timers
// so far (a running one is stopped and included); request tags, the request
// clock, the byte count and hand-set names carry over to the final packet,
// which holds only the timers made after the flush.
pinba_hostname_set("flusher");
pinba_script_name_set("/flush");
pinba_tag_set("phase", "one");
$a = pinba_timer_start(["step" => "a"]);
usleep(20000);
pinba_timer_stop($a);
$b = pinba_timer_start(["step" => "b"]);
usleep(10000);
echo "abc";
pinba_flush();
echo "de";
$c = pinba_timer_start(["step" => "c"]);
usleep(20000);
pinba_timer_stop($c);
pinba_tag_set("phase2", "two");
