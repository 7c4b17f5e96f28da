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
use File::Temp qw(tempdir);

my $nginx  = $ENV{TEST_NGINX_BINARY}       || '/usr/sbin/nginx';
my $module = $ENV{TEST_NGINX_LOAD_MODULES} || 'build/ngx_http_taskgw_module.so';

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
    # a long poll waits 30 s at most: the directive can only lower that
    [ 'loc', 'taskgw_status; taskgw_status_max_wait 31s;',
      qr/"taskgw_status_max_wait" must be at most 30s/ ],
    [ 'http', 'taskgw_status_max_wait 1h;',
      qr/"taskgw_status_max_wait" must be at most 30s/ ],
    [ 'loc', 'taskgw_status; taskgw_status_max_wait 30s;', undef ],
    [ 'loc', 'taskgw_status; taskgw_status_max_wait 0;', undef ],
);

my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/logs";

for my $c (@cases) {
    my ($level, $directive, $reason) = @$c;

    my @conf = (
        "load_module $module;",
        "error_log $dir/logs/error.log;",
        "pid $dir/logs/nginx.pid;",
        "events {}",
        "http {",
        "    access_log off;",
        ($level eq 'http' ? "    $directive" : "    # -"),
        "    server {",
        "        listen 127.0.0.1:1;",
        "        location /t {",
        ($level eq 'loc' ? "            $directive"
                         : "            taskgw_enqueue;"),
        "        }",
        "    }",
        "    # a few lines, so that the end of the http block is elsewhere",
        "",
        "}",
    );

    my $line = $level eq 'http' ? 7 : 11;

    open my $fh, '>', "$dir/nginx.conf" or die "$dir/nginx.conf: $!";
    print $fh map { "$_\n" } @conf;
    close $fh;

    my $out = `$nginx -t -p $dir/ -c $dir/nginx.conf 2>&1`;
    my $status = $?;

    if (!defined $reason) {
        is($status, 0, "$directive: nginx -t accepts it") or diag($out);
        next;
    }

    isnt($status, 0, "$directive: nginx -t fails");
    like($out, qr/\[emerg\].*$reason.* in \Q$dir\E\/nginx\.conf:$line\b/,
         "$directive: the reason and nginx.conf:$line")
        or diag($out);
}

done_testing();
