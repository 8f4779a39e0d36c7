package SalesDocs;

# What the document tests share: a catalogue with a price list, clients,
# opportunities and accepted proposals made through the API, each call
# checked, and small readers of the answers.
#
#   my $d = SalesDocs->new($t);                 # $t a SalesTest instance
#   my $c = $d->client($who, name => 'X SRL');  # $who {token} or a token
#   my $p = $d->accepted_proposal($who, $c, [[std => 3], [red => 7]]);
#   my $o = $d->order_from($who, $p);           # converted and confirmed

use strict;
use warnings;
use utf8;
use SalesTest;

# Products of the catalogue: key => [sku, name, VAT category, unit price].
my %CATALOGUE = (
    std  => ['STD-1', 'Consultanță', 'standard', 10000],      # 21 %
    red  => ['RED-1', 'Carte tehnică', 'reduced', 3333],      # 11 %
    odd  => ['ODD-1', 'Licență', 'standard', 12345],
);

sub new {
    my ($class, $t) = @_;
    my $self = bless { t => $t, n => 0 }, $class;
    my $adm = $t->{admin};
    my $pl = must($t->api(POST => '/price-lists', $adm,
                          { name => 'Lista de bază', is_default => JSON::PP::true }), 201, 'price list');
    $self->{list} = $pl;
    for my $k (sort keys %CATALOGUE) {
        my ($sku, $name, $cat, $price) = @{ $CATALOGUE{$k} };
        my $p = must($t->api(POST => '/products', $adm,
                             { sku => $sku, name => $name, vat_category => $cat }), 201, "product $k");
        must($t->api(POST => "/price-lists/$pl->{id}/items", $adm,
                     { product_id => $p->{id}, unit_price_minor => $price }), 201, "price $k");
        $self->{product}{$k} = $p->{id};
    }
    return $self;
}

sub tok { ref $_[0] ? $_[0]{token} : $_[0] }

# Every call carries "now" when $d->{now} is set (the test clock).
sub call {
    my ($self, $method, $path, $who, $body) = @_;
    my %h = $self->{now} ? ('X-Sales-Test-Now' => $self->{now}) : ();
    return $self->{t}->api($method, $path, tok($who), $body, \%h);
}

sub ok_call {
    my ($self, $method, $path, $who, $body, $status) = @_;
    return must($self->call($method, $path, $who, $body), $status // 200, "$method $path");
}

sub product { $_[0]{product}{ $_[1] } }

sub client {
    my ($self, $who, %f) = @_;
    $f{name} //= 'Client ' . ++$self->{n} . ' SRL';
    return $self->ok_call(POST => '/clients', $who, \%f, 201);
}

sub opportunity {
    my ($self, $who, $client, %f) = @_;
    return $self->ok_call(POST => '/opportunities', $who,
                          { client_id => $client->{id}, title => $f{title} // 'Deal ' . ++$self->{n},
                            value_minor => $f{value_minor} // 100000,
                            expected_close => $f{expected_close} // '2027-06-30' }, 201);
}

# [[key => quantity], ...] as proposal or order lines.
sub lines {
    my ($self, $spec) = @_;
    return [ map { { product_id => $self->product($_->[0]), quantity => $_->[1], %{ $_->[2] // {} } } } @$spec ];
}

sub proposal {
    my ($self, $who, $client, $spec, %f) = @_;
    my $opp = $f{opportunity} // $self->opportunity($who, $client);
    return $self->ok_call(POST => '/proposals', $who,
                          { opportunity_id => $opp->{id}, lines => $self->lines($spec) }, 201);
}

sub accepted_proposal {
    my ($self, $who, $client, $spec, %f) = @_;
    my $p = $self->proposal($who, $client, $spec, %f);
    $self->ok_call(POST => "/proposals/$p->{id}/send", $who, { recipients => [{ email => 'client@example.ro' }] });
    return $self->ok_call(POST => "/proposals/$p->{id}/accept", $who, {});
}

# An accepted proposal converted to an order and confirmed.
sub order_from {
    my ($self, $who, $proposal) = @_;
    my $o = $self->ok_call(POST => "/proposals/$proposal->{id}/convert", $who, {}, 201);
    return $self->ok_call(POST => "/orders/$o->{id}/confirm", $who);
}

# A draft invoice of an order (all of it, or [[order_line_id, quantity], ...]) issued.
sub invoice {
    my ($self, $who, $order, $sel, $issue) = @_;
    my %body = (order_id => $order->{id});
    $body{lines} = [ map { { order_line_id => $_->[0], quantity => $_->[1] } } @$sel ] if $sel;
    my $d = $self->ok_call(POST => '/invoices', $who, \%body, 201);
    return $self->ok_call(POST => "/invoices/$d->{id}/issue", $who, $issue // {});
}

# Sums of the lines of a document: {rate_bp => [net, vat]}.
sub per_rate {
    my ($doc) = @_;
    my %r;
    for my $l (@{ $doc->{lines} || [] }) {
        $r{ $l->{rate_bp} }[0] += $l->{net_minor};
        $r{ $l->{rate_bp} }[1] += $l->{vat_minor};
    }
    return \%r;
}

1;
