# taskgw_redis sentinel=... master=...: every mistake fails nginx -t with
# the reason and the exact file:line; the valid forms (and the plain
# address form) are accepted.
#
# Like t/006-config-lines.t, this suite writes a small nginx.conf itself
# (Test::Nginx cannot pin a line number) and runs `nginx -t` on it.  Each
# case: the directive, the reason nginx -t must print (undef: valid).
use strict;
use warnings;
use Test::More;
use TaskGW::ConfigLines qw(check_config_lines);

my $S = 'sentinel=127.0.0.1:26379,127.0.0.1:26380';

my @cases = (
    [ "taskgw_redis $S;",
      qr/"sentinel=127\.0\.0\.1:26379,127\.0\.0\.1:26380" needs "master="/ ],
    [ 'taskgw_redis master=mymaster;',
      qr/"master=mymaster" needs "sentinel="/ ],
    [ 'taskgw_redis 127.0.0.1:6379 master=mymaster;',
      qr/"master=mymaster" needs "sentinel="/ ],
    [ 'taskgw_redis sentinel= master=m;',
      qr/empty list of sentinels in "sentinel="/ ],
    [ 'taskgw_redis sentinel=127.0.0.1:26379,,127.0.0.1:26380 master=m;',
      qr/empty sentinel address in "sentinel=127\.0\.0\.1:26379,,127\.0\.0\.1:26380"/ ],
    [ 'taskgw_redis sentinel=127.0.0.1:26379, master=m;',
      qr/empty sentinel address in "sentinel=127\.0\.0\.1:26379,"/ ],
    [ 'taskgw_redis sentinel=,127.0.0.1:26379 master=m;',
      qr/empty sentinel address in "sentinel=,127\.0\.0\.1:26379"/ ],
    [ 'taskgw_redis sentinel=127.0.0.1:notaport master=m;',
      qr/invalid port in sentinel address "127\.0\.0\.1:notaport"/ ],
    [ 'taskgw_redis sentinel=127.0.0.1:70000 master=m;',
      qr/invalid port in sentinel address "127\.0\.0\.1:70000"/ ],
    [ 'taskgw_redis sentinel=127.0.0.1 master=m;',
      qr/no port in sentinel address "127\.0\.0\.1"/ ],
    [ 'taskgw_redis sentinel=unix:/tmp/s.sock master=m;',
      qr/sentinel address "unix:\/tmp\/s\.sock" is not host:port/ ],
    [ 'taskgw_redis sentinel=127.0.0.1:26379/x master=m;',
      qr/invalid host in sentinel address "127\.0\.0\.1:26379\/x"/ ],
    [ "taskgw_redis 127.0.0.1:6379 $S master=m;",
      qr/a redis address "127\.0\.0\.1:6379" and "sentinel=[^"]*" cannot be combined/ ],
    [ "taskgw_redis $S master=m sentinel=127.0.0.1:1;",
      qr/duplicate parameter "sentinel=127\.0\.0\.1:1"/ ],
    [ "taskgw_redis $S master=a master=b;",
      qr/duplicate parameter "master=b"/ ],
    [ "taskgw_redis $S master=m db=1 db=2;",
      qr/duplicate parameter "db=2"/ ],
    [ "taskgw_redis $S master=m password=a password=b;",
      qr/duplicate parameter "password=b"/ ],
    [ "taskgw_redis $S master=m sentinel_password=a sentinel_password=b;",
      qr/duplicate parameter "sentinel_password=b"/ ],
    [ "taskgw_redis $S master=m sentinel_password=;",
      qr/empty password in "sentinel_password="/ ],
    [ 'taskgw_redis 127.0.0.1:6379 sentinel_password=x;',
      qr/"sentinel_password=" needs "sentinel="/ ],
    [ "taskgw_redis $S master=;",
      qr/invalid master name in "master=" \(1 to 255 characters\)/ ],
    [ "taskgw_redis $S \"master=my master\";",
      qr/invalid master name in "master=my master" \(no spaces or control characters\)/ ],
    [ "taskgw_redis $S \"master=a\tb\";",
      qr/invalid master name in "master=a\tb" \(no spaces or control/ ],
    [ "taskgw_redis $S master=m 127.0.0.1:6379;",
      qr/invalid parameter "127\.0\.0\.1:6379"/ ],
    [ "taskgw_redis $S master=m bogus=1;",
      qr/invalid parameter "bogus=1"/ ],
    [ 'taskgw_redis password=x;',
      qr/no redis address: give an address or "sentinel=" and "master="/ ],
    # valid: the sentinel form with every option, one sentinel, and the
    # plain forms as before
    [ "taskgw_redis $S master=taskgw-ha password=p db=2 "
      . "sentinel_password=sp;", undef ],
    [ 'taskgw_redis master=m sentinel=localhost:26379;', undef ],
    [ 'taskgw_redis 127.0.0.1:6379 password=p db=1;', undef ],
    [ 'taskgw_redis unix:/tmp/redis.sock;', undef ],
);

check_config_lines(map { [ 'http', @$_ ] } @cases);

done_testing();
