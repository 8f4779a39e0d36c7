use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use POSIX ();
use HTTP::Tiny;
use lib 't/lib';
use SalesTest;

# A nested location with a small body buffer: bodies spill to nginx's temp
# file and are read on the thread pool.
my $t = SalesTest->new(location_extra => <<'EOF');
            location /api/small/ {
                sales_api;
                client_body_buffer_size 1k;
            }
EOF
my $adm = $t->{admin};
my $dir = $t->{dir};

# --- the database cannot be opened: 503, logged, and it recovers -------------
# Workers open their connections on first use; take the folder away first.
chmod 0000, "$dir/data" or die "chmod: $!";
my $r = $t->api(GET => '/me', $adm);
problem($r, 503, 'unavailable', 'database folder unreadable');
ok($r->{headers}{'retry-after'}, '503 carries Retry-After');
unlike($r->{content}, qr{sales\.db|/data|denied}i, 'the answer names no path or OS error');
like(SalesTest::read_file("$dir/error.log"), qr/\[error\].*sales: .*cannot open database/,
     'the reason is in the error log');
chmod 0755, "$dir/data" or die "chmod: $!";
$r = $t->api(GET => '/me', $adm);
is($r->{status}, 200, 'the API answers again once the folder is back');

# --- a body nginx wrote to its temp file -----------------------------------
my $notes = join "\n", map { "line $_ of the notes, long enough to spill" } 1 .. 200;
$r = $t->api(POST => '/small/clients', $adm, { name => 'Spill SRL', notes => $notes });
is($r->{status}, 201, 'a body from the temp file is read and stored') or diag($r->{content});
is($r->{json}{notes}, $notes, 'the stored notes are the whole body');
like($r->{headers}{location} // '', qr{/api/small/clients/\d+$}, 'Location under the location used');

# --- chunked body --------------------------------------------------------------
sub raw {
    my ($req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->{port},
                                  Timeout => 10) or die "connect: $!";
    print $s $req;
    local $/;
    my $resp = <$s>;
    close $s;
    return $resp // '';
}

my $body = '{"name":"Chunked SRL"}';
my $chunked = sprintf("%x\r\n%s\r\n0\r\n\r\n", length $body, $body);
my $resp = raw("POST /api/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $adm\r\n"
    . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    . $chunked);
like($resp, qr{^HTTP/1\.1 201}, 'chunked body accepted');
like($resp, qr{"name":"Chunked SRL"}, 'chunked body stored');

# --- keepalive and pipelining: several answers on one connection, in order ------
$resp = raw(join '', map {
    "GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $adm\r\n"
    . ($_ == 3 ? "Connection: close\r\n" : '') . "\r\n"
} 1 .. 3);
my @status = $resp =~ m{HTTP/1\.1 (\d+) }g;
is_deeply(\@status, [200, 200, 200], 'three pipelined requests answered in order');

# --- HEAD and unknown methods ---------------------------------------------------
$r = $t->api(HEAD => '/clients', $adm);
is($r->{status}, 405, 'HEAD on the API is 405');
$r = $t->api(PUT => '/clients/1', $adm, {});
problem($r, 405, 'method-not-allowed', 'PUT on a client');
like($r->{headers}{allow} // '', qr/GET.*PATCH/, 'Allow lists GET and PATCH');

# --- an id that does not fit, odd paths --------------------------------------------
problem($t->api(GET => '/clients/99999999999999999999', $adm), 404, 'not-found', 'huge id');
problem($t->api(GET => '/clients/0', $adm), 404, 'not-found', 'id 0');
problem($t->api(GET => '/clients/-1', $adm), 404, 'not-found', 'negative id');
problem($t->api(GET => '/clients?limit=5&limit=6', $adm), 400, 'malformed', 'repeated parameter');
problem($t->api(GET => '/clients?color=red', $adm), 400, 'malformed', 'unknown parameter');
problem($t->api(GET => '/clients?q=%zz', $adm), 400, 'malformed', 'bad percent escape');

# --- a token in the query string is not a token ------------------------------------
problem($t->api(GET => "/me?access_token=$adm", undef), 401, 'unauthorized', 'token in the query');

# --- graceful stop with requests in flight: every 201 is a row ------------------
my $master = $t->pid;
my $killer = fork // die "fork: $!";
if (!$killer) {
    sleep 1.0;
    kill 'QUIT', $master;
    POSIX::_exit(0);
}
my @res = $t->parallel(4, sub {
    my $http = HTTP::Tiny->new(keep_alive => 0, timeout => 30);
    my @codes;
    for my $i (1 .. 400) {
        my $x = $http->request(POST => "http://127.0.0.1:$t->{port}/api/clients",
            { headers => { Authorization => "Bearer $adm",
                           'Content-Type' => 'application/json' },
              content => qq({"name":"Stop $$ $i"}) });
        push @codes, $x->{status};
        last if $x->{status} == 599;    # the server went away: stop sending
    }
    return \@codes;
});
waitpid $killer, 0;
my @codes = map { @$_ } @res;
ok((grep { $_ == 599 } @codes), 'the stop happened while requests were being sent');
ok(!(grep { $_ >= 500 && $_ != 599 } @codes), 'no 5xx answer during the stop');
my $created = grep { $_ == 201 } @codes;
ok($created > 0, "requests were answered before the stop ($created)");
$t->stop;
my $rows = $t->sql("select count(*) from clients where name like 'Stop %'");
is($rows, $created, 'every 201 is a row and every row had its 201');
is($t->sql('pragma integrity_check'), 'ok', 'the database is intact');

done_testing;
