<?php
// Timers added with a known value: exact, summed when identical, negative
// clamped to 0 (the extension warns; the warning is silenced here).
pinba_timer_add(["group" => "add", "op" => "exact"], 0.125);
pinba_timer_add(["group" => "add", "op" => "third"], 0.3);
pinba_timer_add(["group" => "add", "op" => "zero"], 0.0);
pinba_timer_add(["group" => "add", "op" => "third"], 0.3);
@pinba_timer_add(["group" => "add", "op" => "negative"], -1.0);
pinba_timer_add(["group" => "add", "op" => "long"], 2.5);
