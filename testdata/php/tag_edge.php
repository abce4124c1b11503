<?php
// Tag names are sorted by bytes and empty values are kept. The extension
// also sends a tag with an empty name, and refuses a timer with an array as
// a tag value or with no tags at all (it warns and returns false; the
// warnings are silenced here).
$t = pinba_timer_start(["b" => "1", "B" => "2", "a_" => "3", "a" => "4", "_z" => "5", "a.b" => "6", "Z" => "7", "é" => "8"]);
pinba_timer_stop($t);
$t = pinba_timer_start(["k" => ""]);
pinba_timer_stop($t);
$t = pinba_timer_start(["" => "x", "k" => "v"]);
pinba_timer_stop($t);
$refused = @pinba_timer_start(["ids" => [1, 2]]);
if ($refused !== false) {
    fwrite(STDERR, "a timer with an array tag value was accepted\n");
}
$refused = @pinba_timer_start([]);
if ($refused !== false) {
    fwrite(STDERR, "a timer with no tags was accepted\n");
}
