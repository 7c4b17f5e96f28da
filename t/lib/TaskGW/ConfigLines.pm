package TaskGW::ConfigLines;

# `nginx -t` on small nginx.conf files this writes itself, one per case,
# with the directive under test on a known line: Test::Nginx lays out its
# own nginx.conf, so it cannot pin the line number a bad value must be
# reported at.
#
#   use TaskGW::ConfigLines qw(check_config_lines);
#   check_config_lines(
#       [ 'http', 'taskgw_prefix "";', qr/invalid prefix ""/ ],
#       [ 'loc',  'taskgw_enqueue queue=q;', undef ],    # must be accepted
#   );
#
# Each case is the directive's level ('http', or 'loc': inside a location;
# the other level gets a plain taskgw_enqueue), the directive, and the
# reason nginx -t must print (a regex), or undef for a value nginx -t must
# accept.  A refused one must name the reason and nginx.conf:LINE.

use strict;
use warnings;

use Exporter qw(import);
use File::Temp qw(tempdir);
use Test::More;

our @EXPORT_OK = qw(check_config_lines);

sub check_config_lines {
    my (@cases) = @_;
    my $nginx  = $ENV{TEST_NGINX_BINARY}       || '/usr/sbin/nginx';
    my $module = $ENV{TEST_NGINX_LOAD_MODULES}
                 || 'build/ngx_http_taskgw_module.so';
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
}

1;
