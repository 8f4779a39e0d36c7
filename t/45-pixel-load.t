use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;
use HTTP::Tiny;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(time sleep);

my $J = $SalesTest::JSON;
my $T = JSON::PP::true;

my @UAS = (
    'Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0',
    'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
    'Mozilla/5.0',
    'curl/8.5.0',
    'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)',
);

# --- helpers -------------------------------------------------------------------------------------------------


# A proposal of a fresh AE sent to $n addresses: [{id, token}].
sub sent_proposal {
    my ($t, $n) = @_;
    my $adm = $t->{admin};
    my $ae = $t->user('ae');
    my $prod = must($t->api(POST => '/products', $adm, { sku => 'ERP', name => 'Licenta ERP' }), 201, 'product')->{id};
    my $pl = must($t->api(POST => '/price-lists', $adm, { name => 'Standard', is_default => $T }), 201, 'price list');
    must($t->api(POST => "/price-lists/$pl->{id}/items", $adm, { product_id => $prod, unit_price_minor => 10000 }), 201, 'item');
    my $cl = must($t->api(POST => '/clients', $ae->{token}, { name => 'Alfa SRL' }), 201, 'client');
    my $op = must($t->api(POST => '/opportunities', $ae->{token},
                          { client_id => $cl->{id}, title => 'ERP', expected_close => '2027-06-30' }), 201, 'opportunity');
    my $p = must($t->api(POST => '/proposals', $ae->{token},
                         { opportunity_id => $op->{id}, lines => [{ product_id => $prod, quantity => 1 }] }), 201, 'proposal');
    my $s = must($t->api(POST => "/proposals/$p->{id}/send", $ae->{token},
                         { recipients => [map { { email => "r$_\@alfa.ro" } } 1 .. $n] }), 200, 'send');
    my @r = map {
        my ($tk) = ($_->{pixel_url} // '') =~ m{/t/([A-Za-z0-9_-]+)\.gif$};
        { id => $_->{id}, token => $tk // '' }
    } @{ $s->{recipients} || [] };
    is(scalar(grep { length $_->{token} } @r), $n, "$n recipients with pixel links");
    return ($p, \@r);
}

my $GIF_LEN = 43;
sub is_gif {
    my $r = shift;
    return $r->{status} == 200 && length($r->{content} // '') == $GIF_LEN && ($r->{content} // '') =~ /^GIF8/
        && ($r->{headers}{'content-type'} // '') eq 'image/gif';
}

# One GET on a fresh connection, timed: (seconds, status, body length).
sub timed_get {
    my ($t, $path, $ua) = @_;
    my $t0 = time;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->{port}, Timeout => 5) or return (time - $t0, 599, 0);
    binmode $s;
    syswrite $s, "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: $ua\r\nConnection: close\r\n\r\n";
    my $sel = IO::Select->new($s);
    my $resp = '';
    my $deadline = $t0 + 10;
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $resp .= $buf;
    }
    my $dt = time - $t0;
    close $s;
    my ($status) = $resp =~ m{^HTTP/1\.[01] (\d{3})};
    my (undef, $body) = split /\r\n\r\n/, $resp, 2;
    return ($dt, $status // 599, length($body // ''));
}

# --- 2000 views from parallel clients across two reloads: none lost ---------------------------------------------
{
    my $t = SalesTest->new(workers => 2, http_extra => 'sales_pixel_flush 5s;');
    my ($p, $rcp) = sent_proposal($t, 20);
    my $kids = 8;
    my $per  = 250;
    my $dir  = $t->{dir};
    my $url  = "http://127.0.0.1:$t->{port}";
    my $start = time + 0.3;
    my @pids;
    for my $i (0 .. $kids - 1) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $res = eval {
                my $wait = $start - time;
                sleep $wait if $wait > 0;
                # Half the clients keep their connection, half open one per request.
                my $http = HTTP::Tiny->new(keep_alive => $i % 2, timeout => 30);
                # A kept-alive connection that an exiting worker closes as
                # idle just as the next request goes out is reset before
                # nginx reads it (nothing recorded); a client sends it again,
                # as browsers do.
                my $get = sub {
                    my $r = $http->get(@_);
                    $r = $http->get(@_)
                        if $r->{status} == 599 && ($r->{content} // '') =~ /reset by peer|closed|Broken pipe/i;
                    return $r;
                };
                my (%ok, @bad, $forged_ok, $forged_bad);
                for my $n (1 .. $per) {
                    my $x = $rcp->[($i * $per + $n) % @$rcp];
                    my $r = $get->("$url/t/$x->{token}.gif", { headers => { 'User-Agent' => $UAS[($i + $n) % @UAS] } });
                    if (is_gif($r)) { $ok{ $x->{id} }++ }
                    else { push @bad, "$r->{status} " . substr($r->{content} // '', 0, 100) }
                    if ($n % 25 == 0) {
                        # A forged token now and then: answered, never recorded.
                        (my $f = $x->{token}) =~ s/^(.{12})(.)/$1 . ($2 eq 'A' ? 'B' : 'A')/e;
                        my $fr = $get->("$url/t/$f.gif", { headers => { 'User-Agent' => $UAS[0] } });
                        is_gif($fr) ? $forged_ok++ : $forged_bad++;
                    }
                    if ($n == int($per / 2)) { SalesTest::write_file("$dir/half-$i", '') }
                    if ($n == int($per * 3 / 4)) { SalesTest::write_file("$dir/three-quarters-$i", '') }
                }
                { ok => \%ok, bad => \@bad, forged_ok => $forged_ok // 0, forged_bad => $forged_bad // 0, end => time };
            };
            $res = { error => "$@" } if $@;
            SalesTest::write_file("$dir/load-$i.json", $J->encode($res));
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    # Reload as soon as the first client is halfway, and again at three quarters,
    # while the others still send.
    # nginx folds signals that arrive together: wait for each reload to be taken.
    my @hup_at;
    my $reloads = sub { scalar(() = SalesTest::read_file("$dir/error.log") =~ /SIGHUP\) received.*reconfiguring/g) };
    for my $mark ('half', 'three-quarters') {
        my $deadline = time + 60;
        sleep 0.005 until glob("$dir/$mark-*") || time > $deadline;
        $t->reload;
        push @hup_at, time;
        poll(sub { $reloads->() >= @hup_at }, 10);
    }
    waitpid $_, 0 for @pids;
    my @res = map { my $f = "$dir/load-$_.json"; -e $f ? $J->decode(SalesTest::read_file($f)) : { error => 'no result' } } 0 .. $kids - 1;
    my @errors = grep { $_->{error} } @res;
    is(scalar @errors, 0, 'every client finished') or diag(join "\n", map { $_->{error} } @errors);
    my %ok;
    for my $x (@res) { $ok{$_} += $x->{ok}{$_} for keys %{ $x->{ok} || {} } }
    my $answered = 0;
    $answered += $_ for values %ok;
    my @bad = map { @{ $_->{bad} || [] } } @res;
    is($answered, $kids * $per, "all @{[ $kids * $per ]} GETs with genuine tokens answered the GIF")
        or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
    my $forged_ok = 0;
    $forged_ok += $_->{forged_ok} // 0 for @res;
    is($forged_ok, $kids * int($per / 25), 'the forged ones too');
    is($reloads->(), 2, 'nginx reconfigured twice');
    my ($last_end) = sort { $b <=> $a } map { $_->{end} // 0 } @res;
    ok(@hup_at == 2 && $hup_at[1] < $last_end, 'both reloads came while clients were still sending')
        or diag(sprintf 'reloads at %s, last client done at %.3f', join(', ', map { sprintf '%.3f', $_ } @hup_at), $last_end);

    # A graceful stop writes what the workers still hold.
    $t->stop;
    is($t->sql("select count(*) from proposal_views where proposal_id = $p->{id}"), $answered,
       'after the reloads and a graceful stop: one row per answered GET, none lost, none extra');
    my %db = map { split /\|/ } split /\n/,
        ($t->sql("select recipient_id || '|' || count(*) from proposal_views where proposal_id = $p->{id} group by recipient_id") // '');
    is_deeply(\%db, \%ok, 'per recipient too');
    is($t->sql("select count(*) from proposal_views where proposal_id <> $p->{id}"), 0, 'no row for anything else');
    is($t->sql('select count(*) from proposal_views where counted = 1 and duplicate = 1'), 0, 'no row both counted and duplicate');
    cmp_ok($t->sql("select view_count from proposals where id = $p->{id}") // 0, '>=', 1, 'the proposal counted its opens');
    is($t->sql("select view_count from proposals where id = $p->{id}"),
       $t->sql("select count(*) from proposal_views where proposal_id = $p->{id} and counted = 1"),
       "the proposal's view_count equals its counted rows");
    is($t->sql("select count(*) from notifications where proposal_id = $p->{id}"), 1, 'one notification for the burst');
    is($t->sql("select count(*) from outbox where type = 'proposal.viewed'"), 1, 'one proposal.viewed event for the burst');
}

# --- a slow writer: the GIF never waits for SQLite ----------------------------------------------------------------
{
    my $t = SalesTest->new(workers => 2, http_extra => 'sales_pixel_flush 20ms;');
    my ($p, $rcp) = sent_proposal($t, 10);
    my $dir = $t->{dir};
    my $rows = sub { $t->sql("select count(*) from proposal_views where proposal_id = $p->{id}") // -1 };

    # The writer is warm: a first view is written.
    my (undef, $st0) = timed_get($t, "/t/$rcp->[0]{token}.gif", $UAS[0]);
    is($st0, 200, 'a first view');
    ok(poll(sub { $rows->() == 1 }), 'and it is written');

    # Another connection holds SQLite's write lock for two seconds.
    my $hold = 2;
    SalesTest::write_file("$dir/lock.sql", join "\n",
        '.timeout 10000', 'BEGIN IMMEDIATE;', "INSERT INTO proposal_views SELECT * FROM proposal_views WHERE 0;",
        ".shell touch $dir/locked", ".shell sleep $hold", 'COMMIT;', ".shell touch $dir/released", '');
    my $lock = fork // die "fork: $!";
    if (!$lock) {
        open STDIN, '<', "$dir/lock.sql" or POSIX::_exit(1);
        open STDOUT, '>', "$dir/lock.out";
        open STDERR, '>&', \*STDOUT;
        exec 'sqlite3', '-batch', $t->{db} or POSIX::_exit(127);
    }
    ok(poll(sub { -e "$dir/locked" }, 10), 'another connection holds the write lock') or diag(SalesTest::read_file("$dir/lock.out"));
    my $locked_at = time;
    my @times;
    for my $i (1 .. 20) {
        my ($dt, $status, $len) = timed_get($t, "/t/$rcp->[$i % @$rcp]{token}.gif", $UAS[$i % @UAS]);
        push @times, [$dt, $status, $len];
    }
    my $during = $rows->();
    my $elapsed = time - $locked_at;
    ok(!-e "$dir/released" && $elapsed < $hold - 0.2, sprintf('the GETs ran while the lock was held (%.2f s)', $elapsed));
    is(scalar(grep { $_->[1] == 200 && $_->[2] == $GIF_LEN } @times), 20, 'twenty GIFs answered during the lock');
    my @slow = grep { $_->[0] >= 0.5 } @times;
    is(scalar @slow, 0, 'each answered in under 0.5 s while SQLite was locked')
        or diag(join ', ', map { sprintf '%.3f s', $_->[0] } @times);
    my ($max) = sort { $b <=> $a } map { $_->[0] } @times;
    diag(sprintf 'slowest GET during the lock: %.3f s', $max // 0) if $ENV{TEST_VERBOSE};
    is($during, 1, 'nothing was written while the lock was held (the writer really waited)');

    waitpid $lock, 0;
    ok(-e "$dir/released", 'the lock was released');
    ok(poll(sub { $rows->() == 21 }, 15), 'after the lock, every view is written') or diag('rows: ' . $rows->());
    sleep 0.2;
    is($rows->(), 21, 'exactly once');
    my (undef, $st1) = timed_get($t, "/t/$rcp->[1]{token}.gif", $UAS[0]);
    is($st1, 200, 'the pixel goes on');
    ok(poll(sub { $rows->() == 22 }), 'and writes at once again');
    $t->stop;
}

# --- a database that cannot be written: the GIF still, the error logged ------------------------------------------------
{
    my $t = SalesTest->new(workers => 1, http_extra => 'sales_pixel_flush 20ms; sales_busy_timeout 100ms;');
    my ($p, $rcp) = sent_proposal($t, 4);
    my $dir = $t->{dir};
    my $rows = sub { $t->sql("select count(*) from proposal_views where proposal_id = $p->{id}") // -1 };
    my (undef, $st0) = timed_get($t, "/t/$rcp->[0]{token}.gif", $UAS[0]);
    ok($st0 == 200 && poll(sub { $rows->() == 1 }), 'a first view is written');
    my $log0 = length SalesTest::read_file("$dir/error.log");

    SalesTest::write_file("$dir/lock.sql", join "\n",
        '.timeout 10000', 'BEGIN IMMEDIATE;', ".shell touch $dir/locked", '.shell sleep 1.5', 'COMMIT;', '');
    my $lock = fork // die "fork: $!";
    if (!$lock) {
        open STDIN, '<', "$dir/lock.sql" or POSIX::_exit(1);
        open STDOUT, '>', "$dir/lock.out";
        open STDERR, '>&', \*STDOUT;
        exec 'sqlite3', '-batch', $t->{db} or POSIX::_exit(127);
    }
    ok(poll(sub { -e "$dir/locked" }, 10), 'the write lock is held longer than sales_busy_timeout');
    my @times = map { [timed_get($t, "/t/$rcp->[$_ % 4]{token}.gif", $UAS[0])] } 1 .. 5;
    is(scalar(grep { $_->[1] == 200 && $_->[2] == $GIF_LEN && $_->[0] < 0.5 } @times), 5,
       'the GIF is answered at once while the views cannot be written');
    ok(poll(sub { substr(SalesTest::read_file("$dir/error.log"), $log0) =~ /\[(?:error|warn)\][^\n]*sales/ }, 3),
       'the failed write is logged');
    waitpid $lock, 0;
    my (undef, $st1) = timed_get($t, "/t/$rcp->[1]{token}.gif", $UAS[0]);
    is($st1, 200, 'the pixel answers after the lock');
    ok(poll(sub { $rows->() >= 2 }, 10), 'and views are written again');
    $t->stop;
}

done_testing;
