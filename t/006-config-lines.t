# Configuration errors name the exact file:line of the bad value.
#
# Test::Nginx cannot pin a line number (its nginx.conf layout is its own),
# so this suite writes a small nginx.conf itself, with the directive under
# test on a known line, and runs `nginx -t` on it.  Each case: the
# directive (http or location level), the reason nginx -t must print
# (undef: a valid value nginx -t must accept).
use strict;
use warnings;
use Test::More;
use TaskGW::ConfigLines qw(check_config_lines);

my @cases = (
    # [ level, directive, reason (a regex) ]
    [ 'http', 'taskgw_redis_timeout 0;',
      qr/"taskgw_redis_timeout" must be more than 0/ ],
    [ 'http', 'taskgw_prefix "";',
      qr/invalid prefix ""/ ],
    [ 'http', 'taskgw_prefix "a b";',
      qr/invalid prefix "a b"/ ],
    [ 'http', 'taskgw_prefix "{x}";',
      qr/invalid prefix "\{x\}"/ ],
    [ 'http', 'taskgw_redis 127.0.0.1:6379 db=1 db=2;',
      qr/duplicate parameter "db=2"/ ],
    [ 'http', 'taskgw_redis 127.0.0.1:6379 password=a password=b;',
      qr/duplicate parameter "password=b"/ ],
    [ 'http', 'taskgw_redis 127.0.0.1:notaport;',
      qr/invalid port in redis address "127.0.0.1:notaport"/ ],
    [ 'loc', 'taskgw_enqueue "queue=bad name";',
      qr/invalid queue name "bad name"/ ],
    [ 'loc', 'taskgw_enqueue queue=q type=a/b;',
      qr/invalid task type "a\/b"/ ],
    [ 'loc', 'taskgw_enqueue priority=high priority=low;',
      qr/duplicate parameter "priority=low"/ ],
    [ 'loc', 'taskgw_enqueue queue=q:x;',
      qr/invalid queue name "q:x"/ ],
    [ 'loc', 'taskgw_enqueue queue=$arg_q type=x.y:z priority=low;',
      undef ],
    # taskgw_max_delay is bounded, so that a start time in ms never
    # overflows: 100000000000y was once accepted
    [ 'http', 'taskgw_max_delay 100000000000y;',
      qr/"taskgw_max_delay" must be at most 3650d/ ],
    [ 'loc', 'taskgw_max_delay 3651d; taskgw_enqueue;',
      qr/"taskgw_max_delay" must be at most 3650d/ ],
    [ 'loc', 'taskgw_max_delay 3650d; taskgw_enqueue;',
      undef ],
    # one content handler per location: proxy_pass beside taskgw_enqueue
    # (or taskgw_status) was once accepted silently, in either order
    [ 'loc', 'proxy_pass http://127.0.0.1:9; taskgw_enqueue;',
      qr/"taskgw_enqueue" cannot be combined with another content handler/ ],
    [ 'loc', 'taskgw_enqueue; proxy_pass http://127.0.0.1:9;',
      qr/"taskgw_enqueue" cannot be combined with another content handler/ ],
    [ 'loc', 'taskgw_status; proxy_pass http://127.0.0.1:9;',
      qr/"taskgw_status" cannot be combined with another content handler/ ],
    [ 'loc', 'empty_gif; taskgw_status;',
      qr/"taskgw_status" cannot be combined with another content handler/ ],
    # the operator's locations too: their names were missing from the
    # table the message takes them from (read past its end)
    [ 'loc', 'proxy_pass http://127.0.0.1:9; taskgw_metrics;',
      qr/"taskgw_metrics" cannot be combined with another content handler/ ],
    [ 'loc', 'taskgw_health; proxy_pass http://127.0.0.1:9;',
      qr/"taskgw_health" cannot be combined with another content handler/ ],
    [ 'loc', 'empty_gif; taskgw_admin;',
      qr/"taskgw_admin" cannot be combined with another content handler/ ],
    [ 'loc', 'taskgw_admin; empty_gif;',
      qr/"taskgw_admin" cannot be combined with another content handler/ ],
    # a long poll waits 30 s at most: the directive can only lower that
    [ 'loc', 'taskgw_status; taskgw_status_max_wait 31s;',
      qr/"taskgw_status_max_wait" must be at most 30s/ ],
    [ 'http', 'taskgw_status_max_wait 1h;',
      qr/"taskgw_status_max_wait" must be at most 30s/ ],
    [ 'loc', 'taskgw_status; taskgw_status_max_wait 30s;', undef ],
    [ 'loc', 'taskgw_status; taskgw_status_max_wait 0;', undef ],
);

check_config_lines(@cases);

done_testing();
