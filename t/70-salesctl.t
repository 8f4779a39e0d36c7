use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new;
my $adm = $t->{admin};

sub ctl_json {
    my ($name, @args) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out, $err) = $t->salesctl(@args);
    is($rc, 0, "$name: exit 0") or diag($err);
    my @lines = grep { length } split /\n/, $out;
    is(scalar @lines, 1, "$name: one line");
    my $j = eval { $SalesTest::JSON->decode($lines[0] // '') };
    ok(ref $j eq 'HASH', "$name: JSON object") or diag($out);
    return $j || {};
}

# The admin made by the harness through salesctl works.
like($adm // '', qr/^sat_\S{43}$/, 'salesctl admin token shape');
is($t->api(GET => '/me', $adm)->{json}{role}, 'admin', 'salesctl admin token works');

# --- user add -------------------------------------------------------------------
my $mgr = ctl_json('user add manager', 'user', 'add', 'Mara Manager', '--role', 'manager');
like($mgr->{id} // '', qr/^\d+$/, 'id is an integer');
like($mgr->{token} // '', qr/^sat_\S{43}$/, 'token shape');
my $ana = ctl_json('user add ae', 'user', 'add', 'Ana Pop', '--role', 'ae', '--manager', $mgr->{id});
my $r = $t->api(GET => '/me', $ana->{token});
is($r->{status}, 200, 'new user token works against the running API');
is($r->{json}{id}, $ana->{id}, '/me id');
is($r->{json}{name}, 'Ana Pop', '/me name');
is($r->{json}{role}, 'ae', '/me role');
is($r->{json}{manager_id}, $mgr->{id}, '/me manager_id');
is_deeply($t->api(GET => '/me', $mgr->{token})->{json}{team}, [$ana->{id}], 'manager team has the new AE');
my $integ = ctl_json('user add integration', 'user', 'add', 'Sync', '--role', 'integration');
is($t->api(GET => '/me', $integ->{token})->{json}{role}, 'integration', 'integration user');

my $users = $t->sql('select count(*) from users');
{
    my ($rc) = $t->salesctl('user', 'add', 'Bad Role', '--role', 'boss');
    isnt($rc, 0, 'user add with an unknown role fails');
    ($rc) = $t->salesctl('user', 'add', 'Bad Manager', '--role', 'ae', '--manager', $ana->{id});
    isnt($rc, 0, 'user add with a non-manager as manager fails');
    ($rc) = $t->salesctl('user', 'add', 'No Manager', '--role', 'ae', '--manager', 999999);
    isnt($rc, 0, 'user add with an unknown manager fails');
    is($t->sql('select count(*) from users'), $users, 'no user added by failed commands');
}

# --- token add / revoke ---------------------------------------------------------------
my $tk = ctl_json('token add', 'token', 'add', $ana->{id}, '--label', 'cli');
like($tk->{id} // '', qr/^\d+$/, 'token id');
like($tk->{token} // '', qr/^sat_\S{43}$/, 'token text');
is($t->api(GET => '/me', $tk->{token})->{json}{id}, $ana->{id}, 'added token works');
($r) = grep { $_->{id} == $tk->{id} } @{ $t->api(GET => "/users/$ana->{id}/tokens", $adm)->{json}{items} || [] };
is($r && $r->{label}, 'cli', 'token listed with its label');

my ($rc, $out, $err) = $t->salesctl('token', 'revoke', $tk->{id});
is($rc, 0, 'token revoke exit 0') or diag($err);
is($t->api(GET => '/me', $tk->{token})->{status}, 401, 'revoked token refused at once');
is($t->api(GET => '/me', $ana->{token})->{status}, 200, 'the first token still works');
($rc) = $t->salesctl('token', 'revoke', 999999);
isnt($rc, 0, 'revoking an unknown token fails');
($rc) = $t->salesctl('token', 'add', 999999);
isnt($rc, 0, 'token add for an unknown user fails');

# --- migrate is idempotent ---------------------------------------------------------------
for my $i (1 .. 2) {
    my $c = $t->api(POST => '/clients', $ana->{token}, { name => "Before Migrate $i" });
    is($c->{status}, 201, "client $i before migrate");
    ($rc, $out, $err) = $t->salesctl('migrate');
    is($rc, 0, "migrate run $i exit 0") or diag($err);
}
is($t->sql("select count(*) from clients where name like 'Before Migrate %'"), 2, 'data kept across migrate');
is($t->api(GET => '/me', $ana->{token})->{status}, 200, 'API works after migrate');
is($t->sql('pragma integrity_check'), 'ok', 'database intact after migrate');

# --- backup while nginx writes ------------------------------------------------------------
for my $i (1 .. 5) {
    $t->api(POST => '/clients', $ana->{token}, { name => "Backup Seed $i" });
}
my $copy = "$t->{dir}/copy.db";
my @res = $t->parallel(4, sub {
    my $i = shift;
    if ($i == 0) {
        sleep 0.3;
        my ($rc, $out, $err) = $t->salesctl('backup', $copy);
        return [{ rc => $rc, err => $err }];
    }
    return [map {
        my $r = $t->api(POST => '/clients', $ana->{token}, { name => "Backup Live $i-$_" });
        { status => $r->{status} }
    } 1 .. 40];
});
my $bk = $res[0][0];
is($bk->{rc}, 0, 'backup exit 0 while nginx writes') or diag($bk->{err});
ok(-s $copy, 'backup file exists');
is(scalar(grep { $_->{status} != 201 } map { @$_ } @res[1 .. 3]), 0, 'writes during backup all 201');
my ($crc, $check) = SalesTest::run_cmd(['sqlite3', '-batch', '-noheader', $copy, 'pragma integrity_check']);
is($check =~ s/\s+$//r, 'ok', 'backup passes integrity_check');
my (undef, $seed) = SalesTest::run_cmd(['sqlite3', '-batch', '-noheader', $copy,
                                        "select count(*) from clients where name like 'Backup Seed %'"]);
is($seed =~ s/\s+$//r, '5', 'backup has the clients written before it');
my (undef, $live) = SalesTest::run_cmd(['sqlite3', '-batch', '-noheader', $copy,
                                        "select count(*) from clients where name like 'Backup Live %'"]);
$live =~ s/\s+$//;
ok($live =~ /^\d+$/ && $live <= 120, "backup holds a consistent prefix of the live writes ($live)");
my (undef, $tokens) = SalesTest::run_cmd(['sqlite3', '-batch', '-noheader', $copy, 'select count(*) from users']);
is($tokens =~ s/\s+$//r, $t->sql('select count(*) from users'), 'backup has every user');

($rc) = $t->salesctl('backup', "$t->{dir}/no/such/folder/copy.db");
isnt($rc, 0, 'backup into a missing folder fails');

# --- a file that is not a database ---------------------------------------------------
SalesTest::write_file("$t->{dir}/junk.db", 'x' x 4096);
($rc) = SalesTest::run_cmd(["$SalesTest::BUILD/salesctl", '--db', "$t->{dir}/junk.db", 'migrate']);
isnt($rc, 0, 'migrate on a non-SQLite file fails');

$t->stop;
done_testing;
