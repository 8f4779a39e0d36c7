use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

sub unauthorized {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    problem($r, 401, 'unauthorized', $name);
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer\b/, "$name: WWW-Authenticate: Bearer");
}

sub users_count { scalar @{ $t->api(GET => '/users?limit=200', $t->{admin})->{json}{items} || [] } }

# --- 401 ------------------------------------------------------------------
unauthorized($t->api(GET => '/me'), 'no token');
unauthorized($t->api(GET => '/me', 'garbage'), 'garbage token');
unauthorized($t->api(GET => '/me', undef, undef, { Authorization => 'Basic YWRtaW46YWRtaW4=' }),
             'Basic scheme');
unauthorized($t->api(GET => '/me', undef, undef, { Authorization => 'Bearer' }), 'empty bearer');
unauthorized($t->api(GET => '/me', 'sat_' . ('A' x 43)), 'unknown well-formed token');
unauthorized($t->api(GET => '/me', substr($adm, 0, -1)), 'truncated admin token');
unauthorized($t->api(GET => '/me', $adm . 'x'), 'extended admin token');
{
    my $before = $t->sql('select count(*) from clients');
    ok(defined $before, 'clients table readable');
    unauthorized($t->api(POST => '/clients', undef, { name => 'No Auth SRL' }), 'POST without token');
    is($t->sql('select count(*) from clients'), $before, 'nothing written without a token');
}

# --- /me for each role ----------------------------------------------------
my $r = $t->api(GET => '/me', $adm);
is($r->{status}, 200, 'admin /me 200');
like($r->{headers}{'content-type'}, qr{^application/json}, '/me is application/json');
is($r->{json}{id}, $t->{admin_id}, 'admin /me id');
is($r->{json}{role}, 'admin', 'admin /me role');
is_deeply($r->{json}{team}, [], 'admin team is []');
ok(defined $r->{json}{disabled} && !$r->{json}{disabled}, 'admin not disabled');
like($r->{json}{created_at} // '', $ISO, 'created_at is ISO 8601 UTC');
like($r->{json}{updated_at} // '', $ISO, 'updated_at is ISO 8601 UTC');
ok(($r->{json}{version} // 0) >= 1, 'version present');

# Users made through the API.
$r = $t->api(POST => '/users', $adm, { name => 'Maria Manager', email => 'maria@example.ro', role => 'manager' });
is($r->{status}, 201, 'POST /users manager 201');
my $mgr = $r->{json};
like($mgr->{token} // '', qr/^sat_\S{43}$/, 'new user token: sat_ + 43 characters');
is($mgr->{role}, 'manager', 'role stored');
is($mgr->{email}, 'maria@example.ro', 'email stored');
is($mgr->{version}, 1, 'new user version 1');

my $ae    = $t->user('ae', manager_id => $mgr->{id});
my $ae2   = $t->user('ae', manager_id => $mgr->{id});
my $integ = $t->user('integration');
my $loner = $t->user('ae');

$r = $t->api(GET => '/me', $mgr->{token});
is($r->{status}, 200, 'manager /me 200');
is($r->{json}{role}, 'manager', 'manager role');
is_deeply([sort { $a <=> $b } @{ $r->{json}{team} || [] }], [sort { $a <=> $b } $ae->{id}, $ae2->{id}],
          'manager team lists its AEs');

$r = $t->api(GET => '/me', $ae->{token});
is($r->{status}, 200, 'ae /me 200');
is($r->{json}{id}, $ae->{id}, 'ae /me id');
is($r->{json}{role}, 'ae', 'ae role');
is($r->{json}{manager_id}, $mgr->{id}, 'ae manager_id');

$r = $t->api(GET => '/me', $integ->{token});
is($r->{status}, 200, 'integration /me 200');
is($r->{json}{role}, 'integration', 'integration role');

# Tokens are never stored in clear.
{
    my $dump = $t->sql('.dump') // '';
    ok(length $dump, 'database dump readable');
    ok(index($dump, substr($ae->{token}, 4)) < 0, 'token text is not stored in the database');
    ok(index($dump, substr($adm, 4)) < 0, 'admin token text is not stored in the database');
    my $hashes = $t->sql('select hex(hash) from api_tokens') // '';
    my $tk = $ae->{token};
    ok(index($hashes, uc sha256_hex($tk)) >= 0 || index($hashes, uc sha256_hex(substr($tk, 4))) >= 0,
       'the token is stored as its SHA-256');
}

# --- user list / get visibility --------------------------------------------
$r = $t->api(GET => '/users?limit=200', $adm);
is($r->{status}, 200, 'admin lists users');
is(scalar @{ $r->{json}{items} }, 6, 'admin sees all 6 users');
ok(!grep({ exists $_->{token} } @{ $r->{json}{items} }), 'user list carries no token');

$r = $t->api(GET => '/users', $mgr->{token});
is_deeply([sort { $a <=> $b } map { $_->{id} } @{ $r->{json}{items} || [] }],
          [sort { $a <=> $b } $mgr->{id}, $ae->{id}, $ae2->{id}], 'manager lists self and team');

$r = $t->api(GET => '/users', $ae->{token});
is_deeply([map { $_->{id} } @{ $r->{json}{items} || [] }], [$ae->{id}], 'ae lists only self');

$r = $t->api(GET => "/users?role=ae&manager_id=$mgr->{id}", $adm);
is_deeply([sort { $a <=> $b } map { $_->{id} } @{ $r->{json}{items} || [] }],
          [sort { $a <=> $b } $ae->{id}, $ae2->{id}], 'filter role + manager_id');

problem($t->api(GET => "/users/$loner->{id}", $ae->{token}), 404, 'not-found', 'ae GET other user');
problem($t->api(GET => "/users/$loner->{id}", $mgr->{token}), 404, 'not-found', 'manager GET non-team user');
is($t->api(GET => "/users/$ae->{id}", $mgr->{token})->{status}, 200, 'manager GET team user');

# --- 403 ------------------------------------------------------------------
{
    my $before = users_count();
    for my $who ([ae => $ae], [manager => $mgr], [integration => $integ]) {
        problem($t->api(POST => '/users', $who->[1]{token}, { name => 'Sneaky', role => 'admin' }),
                403, 'forbidden', "$who->[0] POST /users");
    }
    is(users_count(), $before, 'no user created by non-admins');
    problem($t->api(PATCH => "/users/$ae->{id}", $ae->{token}, { role => 'admin' }),
            403, 'forbidden', 'ae PATCH own role');
    is($t->api(GET => '/me', $ae->{token})->{json}{role}, 'ae', 'ae is still ae');
}

# --- user validation -------------------------------------------------------
{
    my $before = users_count();
    for my $case (
        [{ name => 'X', role => 'boss' },                      '#/role'],
        [{ name => 'X' },                                      '#/role'],
        [{ name => '', role => 'ae' },                         '#/name'],
        [{ name => 'X', role => 'ae', manager_id => $ae->{id} }, '#/manager_id'],
        [{ name => 'X', role => 'ae', email => 'nope' },       '#/email'],
        [{ name => 'X', role => 'ae', colour => 'red' },       '#/colour'],
    ) {
        my $r = $t->api(POST => '/users', $adm, $case->[0]);
        problem($r, 422, 'validation', "POST /users invalid $case->[1]");
        is_deeply(pointers($r), [$case->[1]], "pointer $case->[1]");
    }
    is(users_count(), $before, 'no user created by invalid requests');
}

# --- tokens --------------------------------------------------------------
$r = $t->api(POST => "/users/$ae->{id}/tokens", $adm, { label => 'laptop' });
is($r->{status}, 201, 'admin POST token 201');
my $tok = $r->{json};
is($tok->{user_id}, $ae->{id}, 'token user_id');
is($tok->{label}, 'laptop', 'token label');
like($tok->{token} // '', qr/^sat_\S{43}$/, 'token text');
is($tok->{prefix}, substr($tok->{token} // '', 0, 8), 'prefix is the first 8 characters');
ok(exists $tok->{revoked_at} && !defined $tok->{revoked_at}, 'revoked_at null');
is($t->api(GET => '/me', $tok->{token})->{json}{id}, $ae->{id}, 'new token authenticates as the user');

$r = $t->api(GET => "/users/$ae->{id}/tokens", $adm);
is($r->{status}, 200, 'GET tokens 200');
ok(!grep({ exists $_->{token} } @{ $r->{json}{items} || [] }), 'token list has no token text');
ok(grep({ ($_->{id} // 0) == $tok->{id} && ($_->{label} // '') eq 'laptop' } @{ $r->{json}{items} || [] }),
   'token listed with label');

$r = $t->api(POST => "/users/$ae->{id}/tokens", $ae->{token}, { label => 'phone' });
is($r->{status}, 201, 'ae makes own token');
my $own = $r->{json};
is($t->api(GET => '/me', $own->{token})->{status}, 200, 'own token works');

{
    my $r = $t->api(POST => "/users/$loner->{id}/tokens", $ae->{token}, { label => 'steal' });
    ok($r->{status} == 403 || $r->{status} == 404, 'ae cannot make a token for another user')
        or diag("$r->{status} $r->{content}");
    ok(!defined($r->{json}{token}), 'no token text returned');
    my $list = $t->api(GET => "/users/$loner->{id}/tokens", $adm)->{json}{items} || [];
    is(scalar @$list, 1, 'other user still has only its first token');
}

$r = $t->api(DELETE => "/users/$ae->{id}/tokens/$tok->{id}", $adm);
is($r->{status}, 204, 'DELETE token 204');
unauthorized($t->api(GET => '/me', $tok->{token}), 'revoked token');
is($t->api(GET => '/me', $ae->{token})->{status}, 200, 'other tokens of the user still work');
($r) = grep { $_->{id} == $tok->{id} } @{ $t->api(GET => "/users/$ae->{id}/tokens", $adm)->{json}{items} || [] };
ok($r && defined $r->{revoked_at}, 'revoked token shows revoked_at');

# --- disabling a user ---------------------------------------------------
$r = $t->api(PATCH => "/users/$ae2->{id}", $adm, { disabled => JSON::PP::true });
is($r->{status}, 200, 'PATCH disabled 200');
ok($r->{json}{disabled}, 'user is disabled');
is($r->{json}{version}, 2, 'version grew');
unauthorized($t->api(GET => '/me', $ae2->{token}), 'disabled user token');
unauthorized($t->api(GET => '/clients', $ae2->{token}), 'disabled user token on /clients');
$r = $t->api(GET => '/users?disabled=true', $adm);
is_deeply([map { $_->{id} } @{ $r->{json}{items} || [] }], [$ae2->{id}], 'filter disabled=true');

# --- 404 / 405 ------------------------------------------------------------
problem($t->api(GET => '/nope', $adm), 404, 'not-found', 'unknown route');
problem($t->api(GET => '/clients/999999', $adm), 404, 'not-found', 'unknown client');
problem($t->api(GET => '/users/999999', $adm), 404, 'not-found', 'unknown user');

$r = $t->api(DELETE => '/clients', $adm);
problem($r, 405, 'method-not-allowed', 'DELETE /clients');
my $allow = $r->{headers}{allow} // '';
like($allow, qr/\bGET\b/, 'Allow lists GET');
like($allow, qr/\bPOST\b/, 'Allow lists POST');
unlike($allow, qr/\bDELETE\b/, 'Allow does not list DELETE');

$r = $t->api(PUT => '/me', $adm, {});
problem($r, 405, 'method-not-allowed', 'PUT /me');
like($r->{headers}{allow} // '', qr/\bGET\b/, 'Allow for /me lists GET');

$t->stop;
done_testing;
