# The proposal.expired sweep that runs with webhook delivery: a sent or
# viewed proposal past its validity gets one proposal.expired event, once;
# others get none.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;
use Time::HiRes qw(sleep time);

my $t   = SalesTest->new(http_extra => 'sales_webhook_poll 100ms;');
my $adm = $t->{admin};
my $J   = $SalesTest::JSON;


my $c = must($t->api(POST => '/clients', $adm, { name => 'Expiry SRL' }), 201, 'client');
my $o = must($t->api(POST => '/opportunities', $adm,
                     { client_id => $c->{id}, title => 'Deal', value_minor => 100000,
                       expected_close => '2027-01-20' }), 201, 'opportunity');

# Proposals in every state that matters, written directly: the sweep reads
# the table, whatever wrote it.
my %id;
my $n = 0;
for my $case ([past_sent => 'sent', '2020-01-01'], [past_viewed => 'viewed', '2020-01-02'],
              [past_accepted => 'accepted', '2020-01-03'], [past_draft => 'draft', '2020-01-04'],
              [future_sent => 'sent', '2999-12-31']) {
    my ($name, $status, $until) = @$case;
    $n++;
    $t->sql("INSERT INTO proposals (number, opportunity_id, client_id, owner_id, currency, status,"
          . " valid_until, price_date, created_at, updated_at)"
          . " VALUES ('EXP-$n', $o->{id}, $c->{id}, $t->{admin_id}, 'RON', '$status', '$until',"
          . " '2019-12-01', 0, 0)");
    $id{$name} = $t->sql("SELECT id FROM proposals WHERE number = 'EXP-$n'");
}

sub expired_events {
    my $out = $t->sql("SELECT subject_id || '|' || payload FROM outbox"
                    . " WHERE type = 'proposal.expired' ORDER BY id") // '';
    return map { my ($s, $p) = split /\|/, $_, 2; [$s, $J->decode($p)] } grep { length } split /\n/, $out;
}

# A pool thread sweeps on its first cycle; new workers have new threads.
$t->reload;
my $deadline = time + 15;
my @ev;
while (time < $deadline) {
    @ev = expired_events();
    last if @ev >= 2;
    sleep 0.2;
}

is_deeply([sort { $a <=> $b } map { $_->[0] } @ev], [sort { $a <=> $b } @id{qw(past_sent past_viewed)}],
          'one proposal.expired for each sent or viewed proposal past its validity, none for others');
for my $e (@ev) {
    is($e->[1]{type}, 'proposal.expired', "event type ($e->[0])");
    is($e->[1]{data}{proposal}{id}, $e->[0], "data.proposal.id ($e->[0])");
    is($e->[1]{data}{proposal}{status}, 'expired', "data.proposal.status ($e->[0])");
    like($e->[1]{id}, qr/^evt_/, "event id ($e->[0])");
}

# Again after more sweeps: still once each.
$t->reload;
sleep 2;
is(scalar(expired_events()), 2, 'a later sweep writes no second event');

my $p = must($t->api(GET => "/proposals/$id{past_sent}", $adm), 200, 'get');
is($p->{status}, 'expired', 'the proposal reads as expired');

$t->stop;
done_testing;
