use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new(workers => 2);
my $adm = $t->{admin};
my @aes = map { $t->user('ae') } 1 .. 4;

sub named_like { $t->sql("select count(*) from clients where name like '$_[0]'") }

# --- 200 concurrent creates ------------------------------------------------------
my @res = $t->parallel(8, sub {
    my $i = shift;
    my $who = $aes[$i % 4];
    return [map {
        my $r = $t->api(POST => '/clients', $who->{token}, { name => "Conc $i-$_", city => 'Timisoara' });
        { status => $r->{status}, id => ($r->{json} && $r->{json}{id}), content => substr($r->{content} // '', 0, 200) }
    } 1 .. 25];
});
my @all = map { @$_ } @res;
is(scalar @all, 200, '200 answers');
my @not201 = grep { $_->{status} != 201 } @all;
is(scalar @not201, 0, 'every create answered 201') or diag(explain [@not201[0 .. ($#not201 < 4 ? $#not201 : 4)]]);
is(scalar(grep { $_->{status} >= 500 } @all), 0, 'no 5xx');
my %ids = map { ($_->{id} // 'none') => 1 } @all;
is(scalar keys %ids, 200, '200 distinct ids');
is(named_like('Conc %'), 200, '200 rows');
is($t->sql("select count(*) from outbox where type='client.created'"), 200 + 0, '200 client.created events');
is($t->sql("select count(*) from audit_log where object_type='client'"), 200, '200 audit rows');

# --- concurrent PATCHes of one client ---------------------------------------------
my $c = $t->api(POST => '/clients', $adm, { name => 'Hot Client', owner_id => $aes[0]{id} })->{json};
@res = $t->parallel(8, sub {
    my $i = shift;
    return [map {
        my $r = $t->api(PATCH => "/clients/$c->{id}", $adm, { notes => "n $i $_" });
        { status => $r->{status} }
    } 1 .. 10];
});
@all = map { @$_ } @res;
is(scalar(grep { $_->{status} == 200 } @all), 80, '80 concurrent PATCHes all 200');
is($t->api(GET => "/clients/$c->{id}", $adm)->{json}{version}, 81, 'version counts every PATCH');

# --- reload under traffic -----------------------------------------------------------
my $stopfile = "$t->{dir}/stop-traffic";
my $pid = $t->pid;
my $kid = fork // die "fork: $!";
if (!$kid) {
    sleep 0.8;
    kill 'HUP', $pid;
    sleep 1.2;
    kill 'HUP', $pid;
    sleep 1.2;
    SalesTest::write_file($stopfile, "stop\n");
    POSIX::_exit(0);
}
@res = $t->parallel(4, sub {
    my $i = shift;
    my @out;
    my $n = 0;
    while (!-e $stopfile && $n < 2000) {
        $n++;
        my $r = $t->api(POST => '/clients', $aes[$i]{token}, { name => "Reload $i-$n" });
        push @out, { status => $r->{status}, content => substr($r->{content} // '', 0, 200) };
    }
    return \@out;
});
waitpid $kid, 0;
@all = map { @$_ } @res;
ok(@all >= 20, 'traffic ran during the reloads (' . scalar(@all) . ' requests)');
ok(!grep({ !@$_ } @res), 'every client made requests');
my @bad = grep { $_->{status} < 200 || $_->{status} > 299 } @all;
is(scalar @bad, 0, 'every request during reloads got 2xx') or diag(explain [@bad[0 .. ($#bad < 4 ? $#bad : 4)]]);
is(named_like('Reload %'), scalar(@all), 'row count matches the requests');
my @hups = SalesTest::read_file("$t->{dir}/error.log") =~ /SIGHUP\) received.*reconfiguring/g;
is(scalar @hups, 2, 'nginx reconfigured twice');
is($t->pid, $pid, 'same master after reloads');
ok(kill(0, $pid), 'master alive');

# After the reloads the API still works.
my $r = $t->api(GET => '/me', $adm);
is($r->{status}, 200, '/me after reload');
$r = $t->api(POST => '/clients', $aes[0]{token}, { name => 'After Reload SRL' });
is($r->{status}, 201, 'create after reload');
is($t->api(GET => "/clients/$r->{json}{id}", $aes[0]{token})->{status}, 200, 'read after reload');

$t->stop;

# --- a write lock held elsewhere: 503 with Retry-After, nothing written ---------------
{
    my $s = SalesTest->new(http_extra => 'sales_busy_timeout 100ms;');
    my $u = $s->user('ae');
    is($s->api(POST => '/clients', $u->{token}, { name => 'Before Lock' })->{status}, 201, 'write before the lock');
    my $n = $s->sql('select count(*) from clients');
    open(my $sq, '|-', 'sqlite3', '-batch', $s->{db}) or die "sqlite3: $!";
    select((select($sq), $| = 1)[0]);
    print $sq ".timeout 5000\nBEGIN IMMEDIATE;\nUPDATE users SET version = version WHERE 0;\n";
    sleep 0.5;
    my $r = $s->api(POST => '/clients', $u->{token}, { name => 'Locked Out' });
    problem($r, 503, 'unavailable', 'write while another process holds the write lock');
    ok(($r->{headers}{'retry-after'} // '') =~ /^\d+$/, '503 carries Retry-After seconds');
    is($s->api(GET => '/clients', $u->{token})->{status}, 200, 'reads still work under the lock');
    print $sq "ROLLBACK;\n";
    close $sq;
    is($s->sql('select count(*) from clients'), $n, 'nothing written by the 503');
    like(SalesTest::read_file("$s->{dir}/error.log"), qr/\[(?:error|warn)\].*(?:busy|lock)/i,
         'the lock is reported in the error log');
    is($s->api(POST => '/clients', $u->{token}, { name => 'After Lock' })->{status}, 201, 'writes resume after the lock');
    $s->stop;
}

done_testing;
