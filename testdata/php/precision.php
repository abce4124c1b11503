<?php
// Timer values below the microsecond: the extension keeps timers as a
// struct timeval, so it truncates them to whole microseconds.
pinba_timer_add(["op" => "sub_us"], 0.1234567);
pinba_timer_add(["op" => "tiny"], 0.0000004);
