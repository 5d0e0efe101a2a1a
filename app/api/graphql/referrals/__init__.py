"""GraphQL types and resolvers of invitations, referral trees and a store's customers."""
